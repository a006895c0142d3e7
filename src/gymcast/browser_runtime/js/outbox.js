// Talking to the gymcast host: session creation and the log outbox. Requests carry the log API's
// schema version from the manifest (`manifest.contracts.log_schema`).

const MAX_BACKOFF_MS = 10_000;
/** Without IndexedDB the events live only in memory until the host has them: send them this often instead. */
const MEMORY_ONLY_FLUSH_MS = 500;

/** POST JSON; resolves to the parsed reply, rejects with an Error carrying `status` (0 = no answer). */
async function postJson(url, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  } catch (error) {
    throw Object.assign(new Error(`no answer from ${url}: ${error.message}`), { status: 0 });
  }
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(reply.error || `${url} answered ${response.status}`);
    throw Object.assign(error, { status: response.status, conflicts: reply.conflicts, nextSeq: reply.next_seq });
  }
  return reply;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const retriable = (error) => error.status === 0 || error.status === 429 || error.status >= 500;

/** Register this participant's session with the host (`body` carries `schema`), retrying until it answers (a 4xx is final). */
export async function createSession(apiBase, body) {
  for (let delay = 500; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    try {
      return await postJson(`${apiBase}/api/v1/sessions`, body);
    } catch (error) {
      if (!retriable(error)) throw error;
      console.warn(`gymcast: session not created yet (${error.message}); retrying in ${delay} ms`);
      await sleep(delay);
    }
  }
}

/** The completion code ({code, redirect}) the host issues once it stored this session's completion (with `ending`
 *  "error": the partial code, once it stored the session's `error` event); retries like createSession.
 *  `schema`: the log API's version (`manifest.contracts.log_schema`). */
export async function requestCompletionCode(apiBase, session, schema, ending = "completed") {
  const body = ending === "completed" ? { schema } : { schema, ending };
  for (let delay = 500; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    try {
      return await postJson(`${apiBase}/api/v1/sessions/${session.session_id}/completion`, body, session.token);
    } catch (error) {
      if (!retriable(error) && error.status !== 409) throw error; // 409: the completion is not stored yet
      console.warn(`gymcast: no completion code yet (${error.message}); retrying in ${delay} ms`);
      await sleep(delay);
    }
  }
}

const DB_NAME = "gymcast-outbox";

/** A promise for an IndexedDB request or transaction. */
function settled(target) {
  return new Promise((resolve, reject) => {
    if ("oncomplete" in target) {
      target.oncomplete = () => resolve();
      target.onabort = target.onerror = () => reject(target.error);
    } else {
      target.onsuccess = () => resolve(target.result);
      target.onerror = () => reject(target.error);
    }
  });
}

async function openDatabase() {
  const opening = indexedDB.open(DB_NAME, 1);
  opening.onupgradeneeded = () => {
    opening.result.createObjectStore("sessions", { keyPath: "session_id" });
    opening.result.createObjectStore("events", { keyPath: ["session_id", "seq"] });
  };
  return settled(opening);
}

/**
 * The log outbox. Numbers events per session (seq 1, 2, ...), writes each to IndexedDB before it
 * is sent (an event sent before its write committed could be lost from IndexedDB by a reload while
 * the host stored it, and the next page would then reuse its seq), sends batches, and deletes an
 * event only when the host acknowledges its seq. Failed sends are retried with backoff; the host
 * deduplicates, and a seq it holds with other content is renumbered and sent again. Events are logged from the start, before
 * the host has answered; a session's events are sent once the host has given it a token. After a
 * reload, events left over from any earlier page of this origin are sent too.
 */
export class Outbox {
  /** `schema`: the log API's version (`manifest.contracts.log_schema`), sent with every batch; `intervalMs`: how
   *  often to send (`log_flush_ms`), besides a full batch, a hidden page and explicit flushes; `batchSize` and
   *  `batchChars`: a batch's most events and JSON characters (`log_batch_events`, `log_batch_chars`); `liveEvents`:
   *  the event types the live dashboard shows as they happen (`live_events`), sent as soon as they are written, with
   *  whatever is queued before them. */
  constructor({ apiBase, schema, intervalMs, batchSize, batchChars, liveEvents }) {
    Object.assign(this, { apiBase, schema, batchSize, batchChars, intervalMs });
    if (!Array.isArray(liveEvents)) throw new Error("the outbox needs liveEvents (manifest.contracts.live_events)");
    this.liveEvents = new Set(liveEvents);
    this.db = null;
    this.sessions = new Map(); // session_id -> {session_id, token, api_base, next_seq}
    this.queues = new Map(); // session_id -> events not yet acknowledged, in seq order
    this.unwritten = new Set(); // events whose IndexedDB write has not settled: not sent yet
    this.current = null;
    this.sending = false;
    this.backoffMs = 0;
    this.retryAt = 0; // after a failed send, wait until this time (ms) before the next try
    this.rejected = [];
    this.refused = new Set(); // "session_id:seq" of the rejected events
    this.renumbered = new Map(); // "session_id:seq" -> the seq an event was sent again under (see #renumber)
    this.lastError = null;
  }

  /** An outbox with whatever an earlier page left unsent; IndexedDB failures degrade to memory only. */
  static async open(options) {
    const outbox = new Outbox(options);
    try {
      outbox.db = await openDatabase();
      await outbox.#restore();
    } catch (error) {
      outbox.db = null;
      outbox.lastError = `IndexedDB unavailable, logs kept in memory only: ${error?.message ?? error}`;
      console.warn(`gymcast: ${outbox.lastError}`);
    }
    setInterval(() => outbox.flush(), outbox.db ? outbox.intervalMs : MEMORY_ONLY_FLUSH_MS);
    addEventListener("visibilitychange", () => document.visibilityState === "hidden" && outbox.flush());
    addEventListener("online", () => {
      outbox.retryAt = 0;
      outbox.flush();
    });
    return outbox;
  }

  async #restore() {
    const transaction = this.db.transaction(["sessions", "events"]);
    const [sessions, events] = await Promise.all([
      settled(transaction.objectStore("sessions").getAll()),
      settled(transaction.objectStore("events").getAll()),
    ]);
    for (const session of sessions.filter((s) => s.api_base === this.apiBase)) {
      this.sessions.set(session.session_id, session);
      this.queues.set(session.session_id, []);
    }
    for (const record of events) this.queues.get(record.session_id)?.push(record.event);
  }

  /** Log to `sessionId` from now on, continuing its numbering if an earlier page used it. */
  async adopt(sessionId) {
    if (!this.sessions.has(sessionId)) {
      this.sessions.set(sessionId, { session_id: sessionId, token: null, api_base: this.apiBase, next_seq: 1 });
      this.queues.set(sessionId, []);
    }
    this.current = this.sessions.get(sessionId);
    await this.#write(["sessions"], (t) => t.objectStore("sessions").put(this.current));
  }

  /** The host registered the session: send its events with `token`; number on from at least `nextSeq`. */
  async authorize(sessionId, token, nextSeq = 1) {
    const session = this.sessions.get(sessionId);
    session.token = token;
    session.next_seq = Math.max(session.next_seq, nextSeq);
    await this.#write(["sessions"], (t) => t.objectStore("sessions").put(session));
    this.flush();
  }

  /** Number, persist and queue an event for this tab's session; returns its seq. */
  push(event) {
    const session = this.current;
    const record = { seq: session.next_seq++, t: Date.now(), ...event };
    this.queues.get(session.session_id).push(record);
    this.unwritten.add(record);
    this.#write(["sessions", "events"], (t) => {
      t.objectStore("events").put({ session_id: session.session_id, seq: record.seq, event: record });
      t.objectStore("sessions").put(session);
    }).then(() => { // a failed write leaves memory as the only copy: send it anyway
      this.unwritten.delete(record);
      if (this.liveEvents.has(record.type)) this.flush();
    });
    if (this.queues.get(session.session_id).length >= this.batchSize) this.flush();
    return record.seq;
  }

  /** Whether the host acknowledged event `seq` of this tab's session (neither queued nor refused as invalid). */
  acknowledged(seq) {
    const session = this.current.session_id;
    while (this.renumbered.has(`${session}:${seq}`)) seq = this.renumbered.get(`${session}:${seq}`);
    return seq < this.current.next_seq && !this.queues.get(session).some((event) => event.seq === seq)
      && !this.refused.has(`${session}:${seq}`);
  }

  /** Events not yet acknowledged by the host, over all sessions. */
  pending() {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.length;
    return count;
  }

  /** Whether events survive a reload (IndexedDB works here). */
  durable() {
    return this.db !== null;
  }

  async #write(stores, fill) {
    if (!this.db) return;
    try {
      const transaction = this.db.transaction(stores, "readwrite");
      fill(transaction);
      await settled(transaction);
    } catch (error) {
      this.lastError = `IndexedDB write failed: ${error?.message ?? error}`;
      console.error(`gymcast: ${this.lastError}`);
    }
  }

  async flush() {
    if (this.sending || Date.now() < this.retryAt) return;
    const [sessionId, batch] = [...this.queues]
      .filter(([id]) => this.sessions.get(id).token)
      .map(([id, events]) => [id, this.#sendable(events)])
      .find(([, events]) => events.length > 0) ?? [];
    if (!sessionId) return;
    this.sending = true;
    const session = this.sessions.get(sessionId);
    try {
      const reply = await postJson(
        `${this.apiBase}/api/v1/sessions/${sessionId}/events`, { schema: this.schema, events: batch }, session.token,
      );
      this.#forget(sessionId, new Set(reply.acked));
      this.backoffMs = 0;
      this.lastError = null;
    } catch (error) {
      this.lastError = error.message;
      if (error.conflicts?.length && error.nextSeq) {
        await this.#renumber(session, new Set(error.conflicts), error.nextSeq);
      } else if (retriable(error)) {
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 500), MAX_BACKOFF_MS);
        this.retryAt = Date.now() + this.backoffMs;
      } else {
        // The host refused the batch as invalid: keep it visible instead of dropping it silently.
        console.error(`gymcast: the host rejected ${batch.length} events: ${error.message}`);
        this.rejected.push(...batch);
        for (const event of batch) this.refused.add(`${sessionId}:${event.seq}`);
        this.#forget(sessionId, new Set(batch.map((event) => event.seq)));
      }
    } finally {
      this.sending = false;
    }
  }

  /** The leading events of a queue whose IndexedDB write has settled, at most a batch (by count and by JSON size;
   *  a lone event over the size is a batch by itself, and the host names what is wrong with it). */
  #sendable(events) {
    const batch = [];
    let chars = 0;
    for (const event of events) {
      if (batch.length === this.batchSize || this.unwritten.has(event)) break;
      chars += JSON.stringify(event).length;
      if (batch.length > 0 && chars > this.batchChars) break;
      batch.push(event);
    }
    return batch;
  }

  /** The host holds `seqs` with other content (an earlier page's events whose numbering this page did not see):
   *  give these events new seqs after everything stored and in use, so that they are stored, not dropped. */
  async #renumber(session, seqs, hostNextSeq) {
    session.next_seq = Math.max(session.next_seq, hostNextSeq);
    const queue = this.queues.get(session.session_id);
    const moved = queue.filter((event) => seqs.has(event.seq));
    const oldSeqs = moved.map((event) => event.seq);
    for (const event of moved) {
      this.renumbered.set(`${session.session_id}:${event.seq}`, session.next_seq);
      event.seq = session.next_seq++;
    }
    console.warn(`gymcast: the host already holds seqs ${oldSeqs.join(", ")}; these events are sent again as new seqs`);
    queue.sort((a, b) => a.seq - b.seq);
    await this.#write(["sessions", "events"], (t) => {
      for (const seq of oldSeqs) t.objectStore("events").delete([session.session_id, seq]);
      for (const event of moved) t.objectStore("events").put({ session_id: session.session_id, seq: event.seq, event });
      t.objectStore("sessions").put(session);
    });
  }

  #forget(sessionId, seqs) {
    this.queues.set(sessionId, this.queues.get(sessionId).filter((event) => !seqs.has(event.seq)));
    this.#write(["events"], (t) => {
      for (const seq of seqs) t.objectStore("events").delete([sessionId, seq]);
    });
  }
}

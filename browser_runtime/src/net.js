// Talking to the gymcast host: session creation and the log outbox.

export const SCHEMA = 1;
const MAX_BACKOFF_MS = 10_000;

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
    throw Object.assign(new Error(reply.error || `${url} answered ${response.status}`), { status: response.status });
  }
  return reply;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const retriable = (error) => error.status === 0 || error.status === 429 || error.status >= 500;

/** Register this participant's session with the host, retrying until it answers. */
export async function createSession(apiBase, body) {
  for (let delay = 500; ; delay = Math.min(delay * 2, MAX_BACKOFF_MS)) {
    try {
      return await postJson(`${apiBase}/api/v1/sessions`, { schema: SCHEMA, ...body });
    } catch (error) {
      if (!retriable(error)) throw error;
      console.warn(`gymcast: session not created yet (${error.message}); retrying in ${delay} ms`);
      await sleep(delay);
    }
  }
}

/**
 * Numbers events per session (seq 1, 2, ...), sends them in batches, and keeps each event until
 * the host acknowledges its seq. Failed sends are retried with backoff; the host deduplicates.
 */
export class Outbox {
  constructor({ apiBase, batchSize = 200, intervalMs = 500 }) {
    Object.assign(this, { apiBase, batchSize, intervalMs });
    this.queue = [];
    this.nextSeq = 1;
    this.session = null;
    this.sending = false;
    this.backoffMs = 0;
    this.rejected = [];
    this.lastError = null;
  }

  /** Start sending for `session` ({session_id, token}); events pushed earlier are sent too. */
  attach(session) {
    this.session = session;
    setInterval(() => this.flush(), this.intervalMs);
    addEventListener("visibilitychange", () => document.visibilityState === "hidden" && this.flush());
  }

  push(event) {
    this.queue.push({ seq: this.nextSeq++, t: Date.now(), ...event });
    if (this.queue.length >= this.batchSize) this.flush();
  }

  /** Events not yet acknowledged by the host. */
  pending() {
    return this.queue.length;
  }

  async flush() {
    if (!this.session || this.sending || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.slice(0, this.batchSize);
    try {
      const reply = await postJson(
        `${this.apiBase}/api/v1/sessions/${this.session.session_id}/events`,
        { schema: SCHEMA, events: batch },
        this.session.token,
      );
      const acked = new Set(reply.acked);
      this.queue = this.queue.filter((event) => !acked.has(event.seq));
      this.backoffMs = 0;
      this.lastError = null;
    } catch (error) {
      this.lastError = error.message;
      if (retriable(error)) {
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 500), MAX_BACKOFF_MS);
        await sleep(this.backoffMs);
      } else {
        // The host refused the batch as invalid: keep it visible instead of dropping it silently.
        console.error(`gymcast: the host rejected ${batch.length} events: ${error.message}`);
        this.rejected.push(...batch);
        const sent = new Set(batch.map((event) => event.seq));
        this.queue = this.queue.filter((event) => !sent.has(event.seq));
      }
    } finally {
      this.sending = false;
    }
  }
}

// Who the participant is, which condition they are in without a host, and where they are in the flow.

/** URL parameters that name the participant, in order of preference (Prolific, MTurk, generic). */
const ID_PARAMETERS = ["PROLIFIC_PID", "workerId", "participant_id"];

/** {id, source}: from the URL when a recruiter names the participant, else one kept in localStorage. */
export function identifyParticipant(params, studyKey) {
  for (const name of ID_PARAMETERS) {
    const value = params.get(name);
    if (value) return { id: value.slice(0, 128), source: name };
  }
  const storageKey = `gymcast.participant.${studyKey}`;
  let id = localStorage.getItem(storageKey);
  if (!id) {
    id = `anon-${crypto.randomUUID()}`;
    localStorage.setItem(storageKey, id);
  }
  return { id, source: "generated" };
}

/** A condition fixed by the participant id (FNV-1a hash), for bundles served without a host. */
export function hashedCondition(participantId, conditions) {
  let hash = 0x811c9dc5;
  for (const char of participantId) hash = Math.imul(hash ^ char.codePointAt(0), 0x01000193) >>> 0;
  return conditions[hash % conditions.length];
}

/**
 * The participant's place in the flow, kept in localStorage so a reload or a reopened link resumes:
 * {session_id, scene, condition, episodes_done: {scene: n}, answers: {scene: {...}}}.
 */
export class Progress {
  constructor(studyKey, participantId) {
    this.key = `gymcast.progress.${studyKey}.${participantId}`;
    const saved = JSON.parse(localStorage.getItem(this.key) ?? "null");
    this.resumed = saved !== null;
    this.state = saved ?? { session_id: null, scene: 0, condition: null, episodes_done: {}, answers: {} };
  }

  update(change) {
    Object.assign(this.state, change);
    localStorage.setItem(this.key, JSON.stringify(this.state));
  }
}

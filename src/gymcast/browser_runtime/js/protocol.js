// @ts-check
// The messages between the page (boot.js) and the game worker (worker.js), in both directions:
// the one definition of that protocol. Only worker.js posts to the page; the modules it runs
// (run.js, netplay.js, loading.js) go through its `ToPage` callbacks. Nothing here runs.

// ---- page -> worker -------------------------------------------------------------------------

/**
 * Load everything (Pyodide, packages, onnxruntime-web, the games' modules); answered by `progress`
 * messages, then `ready` (or `error`).
 * @typedef {object} InitMessage
 * @property {"init"} type
 * @property {object} manifest the bundle's manifest.json
 * @property {string} baseUrl the bundle's URL, which the manifest's paths are relative to
 */

/**
 * Where a networked game joins the relay (the host's WebSocket endpoint and this session's token).
 * @typedef {object} RelayAccess
 * @property {string} url
 * @property {string} session_id
 * @property {string} token
 */

/**
 * Play a game scene's episodes (from `startEpisode`, after a reload); answered by `event`s, pictures,
 * `net` messages for a networked game, and finally `done`.
 * @typedef {object} StartMessage
 * @property {"start"} type
 * @property {string} scene the scene's name
 * @property {string} key the game config's key in `manifest.games` (`scene.game_keys[condition]`)
 * @property {object} config that game config
 * @property {number} startEpisode
 * @property {RelayAccess | null} relay set for a networked game (config.multiplayer) when the host is reachable
 * @property {boolean} visible whether the page is visible now
 */

/**
 * A key went down or up (logged as a `key` event; the keys held decide human actions).
 * @typedef {object} KeyMessage
 * @property {"key"} type
 * @property {string} key
 * @property {boolean} down
 * @property {number} t performance.now() on the page
 */

/**
 * A click or tap on the game canvas, in canvas pixels (`rendering.width` x `rendering.height`, scaled
 * from the displayed size); the game's `click_fn` makes it an action (logged as a `click` event).
 * @typedef {object} ClickMessage
 * @property {"click"} type
 * @property {number} x
 * @property {number} y
 */

/**
 * The page's visibility or focus changed (logged as a `page` event; the game's `on_page` hook runs).
 * @typedef {object} PageMessage
 * @property {"page"} type
 * @property {"visible" | "hidden" | "blur" | "focus"} what
 */

/**
 * Participant controls, each logged; `fps` is clamped to the game's `controls.fps_range`.
 * @typedef {{type: "feedback", value: "good" | "bad"}} FeedbackMessage
 * @typedef {{type: "pause"}} PauseMessage
 * @typedef {{type: "resume"}} ResumeMessage
 * @typedef {{type: "restart"}} RestartMessage
 * @typedef {{type: "fps", fps: number}} FpsMessage
 * @typedef {FeedbackMessage | PauseMessage | ResumeMessage | RestartMessage | FpsMessage} ControlMessage
 */

/** @typedef {InitMessage | StartMessage | KeyMessage | ClickMessage | PageMessage | ControlMessage} ToWorker */

// ---- worker -> page -------------------------------------------------------------------------

/**
 * Loading progress, for the loading bar.
 * @typedef {object} ProgressMessage
 * @property {"progress"} type
 * @property {number} fraction 0..1
 * @property {string} label
 */

/**
 * Loaded: the games can start.
 * @typedef {object} ReadyMessage
 * @property {"ready"} type
 * @property {Record<string, number>} boot_ms ms per loading stage: download, policies, python, install, import, total
 * @property {"used" | "made" | "unavailable"} python_snapshot how Python started (see python_snapshot.js)
 * @property {PythonBoot} python_boot restored from the snapshot after the imports, or afresh (import_snapshot.js)
 */

/**
 * Every game has been made and has played its first warm-up step: the page may offer Start (the warm-up goes
 * on until Start; an error in making a game or in its first step comes first, as a `crash`).
 * @typedef {{type: "playable"}} PlayableMessage
 */

/**
 * Which boot a worker took: `restored` from this build's snapshot after the imports, or `fresh`
 * (loading, installing, importing); `why` says why not restored (none saved, or the restore's error).
 * @typedef {{path: "restored" | "fresh", why: string | null}} PythonBoot
 */

/**
 * A log event (`type` plus its fields: run_start, episode_start, step, episode_end, run_end, key,
 * page, feedback, pause, resume, fps, warm_up, pruned_module, matched, ...); the page adds `scene`,
 * `seq` and `t` and sends it to the host.
 * @typedef {{type: string} & Record<string, unknown>} LogEvent
 * @typedef {{type: "event", event: LogEvent}} EventMessage
 */

/**
 * A step's picture as pixels (games with a frame function or `render()`).
 * @typedef {object} FrameMessage
 * @property {"frame"} type
 * @property {ImageBitmap} bitmap transferred
 * @property {number} episode
 * @property {number} step
 */

/**
 * A step's picture as drawables (games with an `objects_fn`), drawn by Phaser.
 * @typedef {object} ObjectsMessage
 * @property {"objects"} type
 * @property {string} json the drawables (gymcast_runtime.draw) as JSON
 * @property {number} period_ms the step period now (tweens last this long)
 * @property {number} episode
 * @property {number} step
 */

/**
 * Networked play as the participant sees it (`what` says which); see netplay.js.
 * @typedef {{what: "connected"}} NetConnected the relay connection is (re)open
 * @typedef {{what: "reconnecting"}} NetReconnecting the relay connection dropped; retrying
 * @typedef {{what: "waiting", waited_s: number}} NetWaiting in the waiting room
 * @typedef {object} NetMatched a group formed (or, with `rejoin`, this browser is back in its group)
 * @property {"matched"} what
 * @property {string} group_id
 * @property {string} seat this browser's agent
 * @property {string[]} seats every Human seat of the group
 * @property {number} input_delay steps between an action's step and the step it is sent at
 * @property {number} seed the group's base seed
 * @property {number} [rtt_ms] this browser's measured round trip (not on a rejoin)
 * @property {boolean} rejoin
 * @property {Record<string, string>} controllers who plays each seat now ("human", "fallback", "absent")
 * @typedef {{what: "alone", seat: string}} NetAlone no partner came: play `seat` with AI partners
 * @typedef {object} NetSeat a seat changed hands (its person left, came back, or was replaced for good)
 * @property {"seat"} what
 * @property {string} agent
 * @property {"human" | "fallback" | "absent"} controller
 * @property {boolean} abandoned
 * @property {number} grace_s
 * @typedef {{what: "rejoined"}} NetRejoined back in the group, from a partner's state
 * @typedef {{what: "ended", reason: string}} NetEnded the group ended (partner_left, seat_taken, group_ended, everyone_left)
 * @typedef {NetConnected | NetReconnecting | NetWaiting | NetMatched | NetAlone | NetSeat | NetRejoined | NetEnded} NetStatus
 * @typedef {{type: "net"} & NetStatus} NetMessage
 */

/**
 * Turn-based play: whose move it is now (also logged as a `turn` event).
 * @typedef {object} TurnStatus
 * @property {string[]} to_move the agents to move
 * @property {"human" | "ai"} controller who plays them
 * @property {boolean} yours whether a person at this page is to move
 * @property {number} episode
 * @property {number} step the steps played so far
 * @typedef {{type: "turn"} & TurnStatus} TurnMessage
 */

/**
 * A short note for the participant, e.g. "That move is not allowed." after a refused move.
 * @typedef {{type: "notice", text: string}} NoticeMessage
 */

/**
 * Why a run ended before its episodes were played.
 * @typedef {{kind: "timeout", code: string, redirect: string}} TimeoutOutcome no partner came, and the study ends
 * @typedef {{kind: "group_end", reason: string}} GroupEndOutcome the group ended
 * @typedef {TimeoutOutcome | GroupEndOutcome} Outcome
 */

/**
 * The run is over: every episode played (`outcome` null), or ended early.
 * @typedef {{type: "done", outcome: Outcome | null}} DoneMessage
 */

/**
 * Something outside the study's own code failed (loading, the relay refusing this browser); the page stops.
 * @typedef {{type: "error", message: string}} ErrorMessage
 */

/**
 * Where the study's code raised: in the warm-up before Start, or in play at (episode, step). `step` is the
 * step being played (0: the reset; logged steps run 1..step-1), or the last step played when the error came
 * after it (drawing its frame, say); `actions` are the actions of the step being played, if it was one.
 * @typedef {object} CrashPlace
 * @property {"warm_up" | "play"} stage
 * @property {number} [episode]
 * @property {number} [step]
 * @property {Record<string, any>} [actions]
 */

/**
 * The study's code (the env, a callback, a model) raised: the page logs an `error` event with these fields
 * (the host stores it, which ends the session), then shows the study's error page; no Start after a warm-up
 * error. `message` is the error's last line, `traceback` the whole text.
 * @typedef {{type: "crash", message: string, traceback: string} & CrashPlace} CrashMessage
 */

/**
 * @typedef {ProgressMessage | ReadyMessage | PlayableMessage | EventMessage | FrameMessage | ObjectsMessage | NetMessage
 *   | TurnMessage | NoticeMessage | DoneMessage | ErrorMessage | CrashMessage} ToPage
 */

/**
 * The worker's one way to the page: a callback per message kind (worker.js makes it; the modules it
 * runs get it, or the part of it they need).
 * @typedef {object} PageChannel
 * @property {(fraction: number, label: string) => void} progress
 * @property {(boot_ms: Record<string, number>, python_snapshot: ReadyMessage["python_snapshot"], python_boot: PythonBoot) => void} ready
 * @property {() => void} playable
 * @property {(event: LogEvent) => void} event
 * @property {(bitmap: ImageBitmap, episode: number, step: number) => void} frame
 * @property {(json: string, period_ms: number, episode: number, step: number) => void} objects
 * @property {(status: NetStatus) => void} net
 * @property {(turn: TurnStatus) => void} turn
 * @property {(text: string) => void} notice
 * @property {(outcome: Outcome | null) => void} done
 * @property {(error: unknown) => void} error
 * @property {(error: unknown, place: CrashPlace) => void} crash
 */

// ---- game worker <-> snapshot worker (snapshot_maker.js, snapshot_worker.js) ---------------

/**
 * Make the snapshot after the imports: boot with `libraries` (the game worker's extension modules,
 * in its load order, bytes transferred) loaded first. Logged by the game worker as a
 * `python_snapshot` event with the outcome's fields.
 * @typedef {object} SnapshotRequest
 * @property {"make"} type
 * @property {object} manifest
 * @property {string} baseUrl
 * @property {{name: string, global: boolean, bytes: Uint8Array}[]} libraries
 */

/**
 * @typedef {{type: "made", bytes: number, ms: number, unexercised?: string} | {type: "failed", why: string, ms: number}} SnapshotOutcome
 */

export {};

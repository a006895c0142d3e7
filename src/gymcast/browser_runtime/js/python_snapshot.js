// Python's start from a memory snapshot. The first visit boots Pyodide as usual, then saves a
// snapshot of the freshly started interpreter (before any package is loaded, as Pyodide requires)
// in Cache Storage. Later visits restore it instead of starting Python again: about 2 s less on an
// ordinary machine. The key is the content-hashed Pyodide folder, so a new Pyodide build never
// meets an old snapshot, and the interpreter's options (PYTHONHASHSEED=0) are the same either way.
// Each snapshot is stored with its SHA-256 and checked before use: Pyodide hangs, rather than
// throws, on a damaged one.

const CACHE = "gymcast-python-snapshots";
const DIGEST_HEADER = "X-Gymcast-Sha256";

/** The SHA-256 of `bytes`, as hex. */
async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Start Pyodide, from a saved snapshot when there is one; answers {pyodide, snapshot: "used"|"made"|"unavailable"}. */
export async function startPython(loadPyodide, options) {
  const key = new URL("__python_snapshot__", options.indexURL).href;
  const saved = await readSnapshot(key);
  if (saved) {
    try {
      return { pyodide: await loadPyodide({ ...options, _loadSnapshot: saved }), snapshot: "used" };
    } catch (error) {
      console.warn(`gymcast: the saved Python snapshot did not load (${error?.message ?? error}); starting afresh`);
      await forget(key);
    }
  }
  const pyodide = await loadPyodide({ ...options, _makeSnapshot: true });
  try {
    const snapshot = pyodide.makeMemorySnapshot();
    save(key, snapshot); // in the background: the first visit does not wait for it
    return { pyodide, snapshot: "made" };
  } catch (error) {
    console.warn(`gymcast: no Python snapshot could be made (${error?.message ?? error})`);
    return { pyodide, snapshot: "unavailable" };
  }
}

/** The saved snapshot, or null when none is saved or it is damaged (then it is dropped). */
async function readSnapshot(key) {
  let response;
  try {
    response = await (await caches.open(CACHE)).match(key);
  } catch {
    return null; // no Cache Storage here (e.g. an opaque origin): start normally
  }
  if (!response) return null;
  const bytes = new Uint8Array(await response.arrayBuffer());
  const expected = response.headers.get(DIGEST_HEADER);
  if (expected && expected === (await sha256(bytes))) return bytes;
  console.warn(`gymcast: the saved Python snapshot is damaged (${expected ? "its SHA-256 differs" : "no SHA-256 saved"}); starting afresh`);
  await forget(key);
  return null;
}

async function save(key, snapshot) {
  try {
    const cache = await caches.open(CACHE);
    for (const old of await cache.keys()) await cache.delete(old); // one Pyodide build per origin
    const headers = { "Content-Type": "application/octet-stream", [DIGEST_HEADER]: await sha256(snapshot) };
    await cache.put(key, new Response(snapshot, { headers }));
  } catch (error) {
    console.warn(`gymcast: the Python snapshot was not saved (${error?.message ?? error})`);
  }
}

async function forget(key) {
  try {
    await (await caches.open(CACHE)).delete(key);
  } catch {
    // nothing saved, nothing to forget
  }
}

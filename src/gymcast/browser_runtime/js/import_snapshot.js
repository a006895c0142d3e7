// @ts-check
// Warm visits from a memory snapshot of Python taken after the imports (numpy, gymnasium, the games'
// modules). A second worker makes it once the first visit is playable (snapshot_worker.js); return
// visits restore it instead of starting Python, installing and importing. All of this rests on
// private Pyodide 0.27.7 API, so every failure falls back to the ordinary boot.
//
// The extension modules (.so) live outside the linear memory: the snapshot holds their data, not
// their code. Both the maker and the restorer load them in a preRun hook, before Python starts, in
// one fixed order: the allocator and the function table are then in the same state both times, so
// each library lands at the same addresses and the copied-in memory matches them. dlopen's handles
// (a JS map) are recorded and re-pointed. The memory does not hold Pyodide's file system either: the
// files the packages installed are stored next to it (the libraries once, as libraries) and written
// back before Python runs, so nothing is installed again. The snapshot is keyed by the bundle's build
// id in Cache Storage; the libraries are stored as application/wasm so `compileStreaming` can compile them.

const CACHE = "gymcast-import-snapshots";
const FORMAT = 2; // of what is stored (meta.json's `format`): a snapshot in another format is refused and remade

/**
 * One extension module as both sides load it: its path in Pyodide's file system (dlopen's name),
 * whether its symbols are global (a shared library) or local (a Python extension module).
 * @typedef {{name: string, global: boolean}} Library
 */

/**
 * What meta.json records next to the memory. `libraries` in load order; `handles` maps dlopen's
 * handles (addresses in the snapshot's memory) to library names; `files` lists the installed files
 * other than the libraries, as stored one after the other in `files`, with their sizes.
 * @typedef {{format: number, libraries: Library[], handles: [number, string][], files: [string, number][], memory_bytes: number, made_ms: number}} Meta
 */

const SYSTEM_DIRS = new Set(["/dev", "/proc", "/sys"]);

/** Every file in Pyodide's file system (devices aside), as path -> size. */
export function listFiles(/** @type {any} */ FS, dir = "/", /** @type {Map<string, number>} */ found = new Map()) {
  for (const name of FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
    const stat = FS.lstat(path);
    if (FS.isDir(stat.mode)) {
      if (!SYSTEM_DIRS.has(path)) listFiles(FS, path, found);
    } else if (FS.isFile(stat.mode)) found.set(path, stat.size);
  }
  return found;
}

/** The files that appeared or changed since `before` (a `listFiles` of the same file system). */
export function filesAddedSince(/** @type {any} */ FS, /** @type {Map<string, number>} */ before) {
  return [...listFiles(FS)].filter(([path, size]) => before.get(path) !== size).map(([path]) => path);
}

/** Write `files` ([path, bytes]) into Pyodide's file system, making their folders. */
function writeFiles(/** @type {any} */ FS, /** @type {[string, Uint8Array][]} */ files) {
  const made = new Set();
  for (const [path, bytes] of files) {
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir && !made.has(dir)) {
      FS.mkdirTree(dir);
      made.add(dir);
    }
    FS.writeFile(path, bytes, { canOwn: true });
  }
}

/** The Cache Storage URL prefix of `buildId`'s snapshot (under the content-hashed Pyodide folder). */
function prefix(/** @type {string} */ indexURL, /** @type {string} */ buildId) {
  return new URL(`__import_snapshot__/${buildId}/`, indexURL).href;
}

/**
 * Load Pyodide with `libraries` (compiled) loaded in a preRun hook, in their order. They may still be compiling:
 * loadPyodide meanwhile fetches Python's files and, given a promise as `_loadSnapshot`, awaits the memory too.
 * @param {string} indexURL
 * @param {(Library & {module: WebAssembly.Module})[] | Promise<(Library & {module: WebAssembly.Module})[]>} libraries
 * @param {object} options loadPyodide's
 */
export async function loadPyodideWith(indexURL, libraries, options) {
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  const scope = /** @type {any} */ (globalThis);
  if (typeof scope._createPyodideModule !== "function") await import(indexURL + "pyodide.asm.js"); // loadPyodide uses the global
  const create = scope._createPyodideModule;
  scope._createPyodideModule = async (/** @type {any} */ settings) => {
    const compiled = await libraries;
    // Emscripten 3.1.58 runs preRun hooks last-first: put this one first so it runs after Pyodide's own.
    settings.preRun.unshift((/** @type {any} */ Module) => loadLibraries(Module, compiled));
    return create(settings);
  };
  try {
    return await loadPyodide(options);
  } finally {
    scope._createPyodideModule = create;
  }
}

/** Instantiate each library as Emscripten's loadDynamicLibrary would, before any C code runs. */
function loadLibraries(/** @type {any} */ Module, /** @type {(Library & {module: WebAssembly.Module})[]} */ libraries) {
  for (const library of libraries) {
    const dso = Module.newDSO(library.name, undefined, "loading");
    dso.refcount = Infinity;
    dso.global = library.global;
    const flags = { loadAsync: false, nodelete: true, allowUndefined: true, global: library.global };
    const exports = Module.loadWebAssemblyModule(library.module, flags, library.name, library.global ? null : {});
    if (library.global) Module.mergeLibSymbols(exports, library.name);
    dso.exports = exports;
    const base = library.name.slice(library.name.lastIndexOf("/") + 1); // Pyodide also registers the bare name
    Module.LDSO.loadedLibsByName[base] ??= dso;
  }
}

/** The libraries a booted Pyodide has loaded, in load order, with their bytes (read from its file system). */
export function loadedLibraries(/** @type {any} */ pyodide) {
  /** @type {Set<any>} */
  const seen = new Set();
  /** @type {(Library & {bytes: Uint8Array})[]} */
  const libraries = [];
  for (const [name, dso] of Object.entries(pyodide._module.LDSO.loadedLibsByName)) {
    if (seen.has(dso) || name === "__main__") continue;
    seen.add(dso);
    libraries.push({ name: dso.name, global: Boolean(dso.global), bytes: pyodide.FS.readFile(dso.name) });
  }
  return libraries;
}

/**
 * Finish a maker's boot (packages installed, modules imported) into a snapshot and store it.
 * @param {any} pyodide booted by `loadPyodideWith(..., {_makeSnapshot: true})`
 * @param {{indexURL: string, buildId: string, libraries: (Library & {bytes: Uint8Array})[], installed: string[], started: number}} made
 *   `installed`: the files the packages installed (`filesAddedSince` the boot)
 * @returns {Promise<number>} the memory's size in bytes
 */
export async function saveSnapshot(pyodide, { indexURL, buildId, libraries, installed, started }) {
  // Pyodide refuses a snapshot while JS holds references into Python's world; loadedPackages is the one left.
  for (const name of Object.keys(pyodide.loadedPackages)) delete pyodide.loadedPackages[name];
  /** @type {[number, string][]} */
  const handles = Object.entries(pyodide._module.LDSO.loadedLibsByHandle)
    .filter(([handle]) => handle !== "0")
    .map(([handle, dso]) => [Number(handle), dso.name]);
  const libraryNames = new Set(libraries.map((library) => library.name));
  const stored = installed.filter((path) => !libraryNames.has(path)); // the libraries are stored as such
  const contents = stored.map((path) => pyodide.FS.readFile(path));
  const memory = pyodide.makeMemorySnapshot();
  /** @type {Meta} */
  const meta = {
    format: FORMAT, libraries: libraries.map(({ name, global }) => ({ name, global })), handles,
    files: stored.map((path, index) => [path, contents[index].byteLength]),
    memory_bytes: memory.byteLength, made_ms: Math.round(performance.now() - started),
  };
  const at = prefix(indexURL, buildId);
  const cache = await caches.open(CACHE);
  for (const old of await cache.keys()) await cache.delete(old); // one build per origin
  await cache.put(at + "memory", new Response(memory, { headers: { "Content-Type": "application/octet-stream" } }));
  await cache.put(at + "files", new Response(new Blob(contents), { headers: { "Content-Type": "application/octet-stream" } }));
  for (const [index, library] of libraries.entries()) {
    await cache.put(at + `lib/${index}.so`, new Response(library.bytes, { headers: { "Content-Type": "application/wasm" } }));
  }
  await cache.put(at + "meta.json", new Response(JSON.stringify(meta), { headers: { "Content-Type": "application/json" } })); // last: complete
  return memory.byteLength;
}

/**
 * This build's saved snapshot, its parts still loading (libraries compiling), or null when none is
 * saved. Throws nothing: an unreadable store counts as none. `refused` rejects with why when the snapshot is in
 * another format (then nothing else is read), and is null otherwise.
 * @param {string} indexURL @param {string} buildId
 * @returns {Promise<{meta: Meta, refused: Promise<never> | null, memory: Promise<Uint8Array>, files: Promise<Uint8Array>, libraries: Promise<(Library & {module: WebAssembly.Module, bytes: Uint8Array})[]>} | null>}
 */
export async function findSnapshot(indexURL, buildId) {
  const at = prefix(indexURL, buildId);
  let cache;
  let metaResponse;
  try {
    cache = await caches.open(CACHE);
    metaResponse = await cache.match(at + "meta.json");
  } catch {
    return null; // no Cache Storage here (e.g. an opaque origin)
  }
  if (!metaResponse) return null;
  const found = cache;
  const part = async (/** @type {string} */ path) => {
    const response = await found.match(at + path);
    if (!response) throw new Error(`the snapshot's ${path} is missing`);
    return response;
  };
  const bytes = async (/** @type {Response} */ response) => new Uint8Array(await response.arrayBuffer());
  /** @type {Meta} */
  const meta = await metaResponse.json();
  if (meta.format !== FORMAT) { // read nothing more: restoreSnapshot refuses it with this reason
    const refused = Promise.reject(new Error(`it was stored by another version of gymcast (format ${meta.format ?? 1}, this one reads ${FORMAT}); it is remade`));
    refused.catch(() => {});
    return { meta, refused, memory: refused, files: refused, libraries: refused };
  }
  const memory = part("memory").then(bytes);
  const files = part("files").then(bytes);
  const libraries = Promise.all(meta.libraries.map(async (library, index) => {
    const response = await part(`lib/${index}.so`); // compiled, and written back as a file
    const [module, content] = await Promise.all([WebAssembly.compileStreaming(response.clone()), bytes(response)]);
    return { ...library, module, bytes: content };
  }));
  for (const promise of [memory, files, libraries]) promise.catch(() => {}); // awaited by restore; a failure there is reported there
  return { meta, refused: null, memory, files, libraries };
}

/**
 * Restore Python from `saved`: the libraries in their order, the memory, dlopen's handles, the
 * installed files; then reseed the global random states (the snapshot froze them) and check the
 * interpreter answers.
 * @param {NonNullable<Awaited<ReturnType<typeof findSnapshot>>>} saved @param {object & {indexURL: string}} options loadPyodide's
 */
export async function restoreSnapshot(saved, options) {
  await saved.refused; // a snapshot of another format: before Pyodide loads at all
  const checked = Promise.all([saved.memory, saved.files]).then(([memory, files]) => {
    if (memory.byteLength !== saved.meta.memory_bytes) {
      throw new Error(`the snapshot has ${memory.byteLength} bytes, not the ${saved.meta.memory_bytes} recorded`);
    }
    const filesBytes = saved.meta.files.reduce((sum, [, size]) => sum + size, 0);
    if (files.byteLength !== filesBytes) {
      throw new Error(`the snapshot's files have ${files.byteLength} bytes, not the ${filesBytes} recorded`);
    }
    return memory;
  });
  checked.catch(() => {}); // loadPyodide awaits it and so rejects the restore; this only marks an early failure handled
  // Pyodide's scripts load and its own files are fetched while the parts are still being read and compiled.
  const pyodide = await loadPyodideWith(options.indexURL, saved.libraries, { ...options, _loadSnapshot: checked });
  const [files, libraries] = await Promise.all([saved.files, saved.libraries]);
  const LDSO = pyodide._module.LDSO;
  for (const [handle, name] of saved.meta.handles) {
    if (!LDSO.loadedLibsByName[name]) throw new Error(`the snapshot's library ${name} was not loaded`);
    LDSO.loadedLibsByHandle[handle] = LDSO.loadedLibsByName[name];
  }
  let offset = 0;
  /** @type {[string, Uint8Array][]} */
  const contents = saved.meta.files.map(([path, size]) => [path, files.subarray(offset, (offset += size))]);
  writeFiles(pyodide.FS, [...contents, ...libraries.map((library) => /** @type {[string, Uint8Array]} */ ([library.name, library.bytes]))]);
  const loading = pyodide.pyimport("gymcast_runtime.loading");
  try {
    loading.after_restore();
  } finally {
    loading.destroy();
  }
  return pyodide;
}

/** Drop every stored snapshot (after one failed to restore). */
export async function forgetSnapshots() {
  try {
    await caches.delete(CACHE);
  } catch {
    // nothing stored, nothing to forget
  }
}

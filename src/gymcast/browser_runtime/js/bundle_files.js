// @ts-check
// Which of a bundle's files (manifest.files: path -> {size, ...}) the worker downloads as it loads.

/** Python's own files (Pyodide's runtime and standard library), without the module the worker imports.
 * @param {any} manifest @returns {[string, any][]} */
export function pythonFiles(manifest) {
  return Object.entries(manifest.files).filter(([path]) => path.startsWith(manifest.pyodide.index_url) && !path.endsWith(".mjs"));
}

/** The wheels loadPackage installs (not the full archives a slim bundle fetches only on need).
 * @param {any} manifest @returns {[string, any][]} */
export function wheelFiles(manifest) {
  return Object.entries(manifest.files).filter(([path]) => path.endsWith(".whl") && !path.startsWith("full/"));
}

// The bundle's service worker: return visits load from the device, and the study also starts offline.
// Content-hashed files (a 16-hex folder in the path) never change: cache first. The boot page and
// manifest.json may change with a new build: network first, the cached copy when offline. The log
// API is never cached. After a page has booted it sends the bundle's file list ("precache"), and the
// worker stores every file (mostly from the HTTP cache) and drops those of older builds.

const IMMUTABLE = "gymcast-immutable";
const PAGES = "gymcast-pages";
const HASHED = /\/[0-9a-f]{16}\//;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.href.startsWith(self.registration.scope)) return;
  if (url.pathname.includes("/api/")) return;
  event.respondWith(HASHED.test(url.pathname) ? cacheFirst(event.request) : networkFirst(event.request));
});

self.addEventListener("message", (event) => {
  if (event.data?.type === "precache") event.waitUntil(precache(event.data.urls).then(() => event.source?.postMessage({ type: "precached" })));
});

async function cacheFirst(request) {
  const cache = await caches.open(IMMUTABLE);
  const cached = await cache.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(PAGES);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true, ignoreVary: true });
    if (cached) return cached;
    throw error;
  }
}

/** Store every file of this build (boot page and manifest included), and drop the files of older builds. */
async function precache(urls) {
  const wanted = new Set(urls.map((url) => new URL(url, self.registration.scope).href));
  const immutable = await caches.open(IMMUTABLE);
  const pages = await caches.open(PAGES);
  for (const url of wanted) {
    const cache = HASHED.test(new URL(url).pathname) ? immutable : pages;
    if (!(await cache.match(url, { ignoreVary: true }))) {
      const response = await fetch(url);
      if (response.ok) await cache.put(url, response);
    }
  }
  for (const request of await immutable.keys()) {
    if (!wanted.has(request.url)) await immutable.delete(request);
  }
}

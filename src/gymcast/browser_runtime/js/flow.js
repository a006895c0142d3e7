// The scenes that are not games: HTML pages, consent, surveys and the completion page.

const $ = (id) => document.getElementById(id);
const element = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** Show `nodes` in the scene area and announce it (`gymcast:scene-shown` on document); returns the container. */
function show(...nodes) {
  const container = $("scene");
  container.replaceChildren(...nodes);
  container.hidden = false;
  $("game").hidden = true;
  $("loading").hidden = true;
  document.dispatchEvent(new Event("gymcast:scene-shown"));
  return container;
}

async function pageHtml(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the page ${url} could not be loaded (HTTP ${response.status})`);
  return element("div", { className: "page", innerHTML: await response.text() });
}

/** An HTML page with a Continue button. */
export async function runPage(scene) {
  const button = element("button", { id: "continue", textContent: "Continue" });
  show(await pageHtml(scene.html), button);
  await new Promise((resolve) => button.addEventListener("click", resolve, { once: true }));
}

/** A consent page: Continue stays disabled until the box is ticked. Resolves with {agreed: true}. */
export async function runConsent(scene) {
  const box = element("input", { type: "checkbox", id: "consent-box" });
  const button = element("button", { id: "continue", textContent: "Continue", disabled: true });
  box.addEventListener("change", () => (button.disabled = !box.checked));
  show(await pageHtml(scene.html), element("label", { className: "consent" }, box, " ", scene.checkbox), button);
  await new Promise((resolve) => button.addEventListener("click", resolve, { once: true }));
  return { agreed: true, checkbox: scene.checkbox };
}

function questionInput(question, saved, onChange) {
  const name = `q-${question.id}`;
  if (question.kind === "text") {
    const input = element("textarea", { name, id: name, value: saved ?? "" });
    input.addEventListener("input", () => onChange(input.value));
    return input;
  }
  if (question.kind === "number") {
    const input = element("input", { type: "number", name, id: name, value: saved ?? "" });
    if (question.minimum !== null) input.min = question.minimum;
    if (question.maximum !== null) input.max = question.maximum;
    input.addEventListener("input", () => onChange(input.value === "" ? null : Number(input.value)));
    return input;
  }
  const multiple = question.kind === "multi";
  const options = question.kind === "likert"
    ? Array.from({ length: question.points }, (_, i) => String(i + 1))
    : question.options;
  const group = element("div", { className: `options ${question.kind}` });
  for (const option of options) {
    const input = element("input", { type: multiple ? "checkbox" : "radio", name, value: option });
    input.checked = multiple ? (saved ?? []).includes(option) : saved === option;
    input.addEventListener("change", () => {
      const chosen = [...group.querySelectorAll("input:checked")].map((box) => box.value);
      onChange(multiple ? chosen : chosen[0]);
    });
    group.append(element("label", {}, input, " ", option));
  }
  if (question.kind === "likert") {
    group.prepend(element("span", { className: "scale-label", textContent: question.labels[0] }));
    group.append(element("span", { className: "scale-label", textContent: question.labels[1] }));
  }
  return group;
}

const answered = (value) => value !== undefined && value !== null && value !== "" && !(Array.isArray(value) && !value.length);

/**
 * A survey. `saved` holds answers given before a reload; `onAnswer(answers)` is called on every
 * change so progress can be kept. Resolves with the answers once every required one is given.
 */
export async function runSurvey(scene, saved, onAnswer) {
  const answers = { ...saved };
  const form = element("form", { className: "survey", noValidate: true });
  for (const question of scene.questions) {
    const input = questionInput(question, answers[question.id], (value) => {
      answers[question.id] = value;
      onAnswer({ ...answers });
    });
    form.append(element("fieldset", { id: `question-${question.id}` },
      element("legend", { textContent: question.prompt + (question.required ? " *" : "") }), input));
  }
  const error = element("p", { className: "form-error", id: "survey-error", hidden: true });
  const button = element("button", { type: "submit", id: "submit", textContent: "Submit" });
  form.append(error, button);
  show(form);
  await new Promise((resolve) => form.addEventListener("submit", (event) => {
    event.preventDefault();
    const missing = scene.questions.filter((q) => q.required && !answered(answers[q.id]));
    error.hidden = missing.length === 0;
    error.textContent = `Please answer: ${missing.map((q) => q.prompt).join("; ")}`;
    if (!missing.length) resolve();
  }));
  return answers;
}

/** The completion page: the code, and a redirect (e.g. to Prolific) after a short pause. */
export async function runCompletion(scene, beforeRedirect) {
  const nodes = [element("h2", { textContent: "Thank you! You have completed the study." }),
    element("p", {}, "Your completion code is ", element("strong", { id: "completion-code", textContent: scene.code }))];
  if (scene.redirect) {
    nodes.push(element("p", {}, "You will be returned to the study platform in a moment, or ",
      element("a", { href: scene.redirect, textContent: "continue now" }), "."));
  }
  show(...nodes);
  if (!scene.redirect) return;
  await Promise.all([beforeRedirect(), new Promise((resolve) => setTimeout(resolve, scene.redirect_after_s * 1000))]);
  location.href = scene.redirect;
}

/** A message in place of the study (already completed, or the end of a flow without Completion). */
export function showMessage(title, text) {
  show(element("h2", { textContent: title }), element("p", { textContent: text }));
}

/**
 * The page after the study's code raised: no traceback, the partial code the host issued (if any) and the
 * experiment's contact line. `stored`: the host acknowledged the `error` event (else it waits in this browser).
 * @param {{stored: boolean, code?: string | null, redirect?: string | null, contact?: string, codeExpected?: boolean}} ending
 */
export function showErrorEnding({ stored, code = null, redirect = null, contact = "", codeExpected = false }) {
  const nodes = [element("h2", { textContent: "The game stopped because of an error in the study" }),
    element("p", { textContent: "This is not your fault, and we are sorry for the trouble." })];
  if (stored) nodes.push(element("p", { id: "error-saved", textContent: "What you did so far has been saved." }));
  else {
    nodes.push(element("p", { id: "error-unsaved", textContent: "The study's server could not be reached, so what you "
      + "did could not be sent yet. It is kept in this browser and is sent when you open this page again." }));
  }
  if (code) {
    nodes.push(element("p", {}, "Your code for the part you did is ",
      element("strong", { id: "error-code", textContent: code })));
    if (redirect) {
      nodes.push(element("p", {}, element("a", { href: redirect, textContent: "Continue to the study platform" })));
    }
  } else if (codeExpected) {
    nodes.push(element("p", { textContent: "Your code could not be fetched yet; open this page again later to see it." }));
  }
  if (contact) nodes.push(element("p", { id: "error-contact", textContent: contact }));
  show(...nodes);
}

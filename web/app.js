// Mythical Mysfits: the gallery and the "Recommend a Mysfit" questionnaire.
// Vanilla JS, same-origin relative URLs only (works locally and behind CloudFront unchanged), CSP-friendly:
// no inline scripts or styles, no innerHTML with data.
"use strict";

(function () {
  const API_PATH = "recommendations";
  const SPECIES_IMAGES = new Set([
    "chimera", "cyclops", "dragon", "gorgon", "haetae", "yeti",
    "kraken", "plesiosaurus", "mandrake", "pegasus", "phoenix", "troll",
  ]);
  const PLACEHOLDER = "img/placeholder.svg";

  const state = { catalog: [], byId: new Map(), questions: [], busy: false };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  function imageFor(mysfit) {
    const key = String((mysfit && mysfit.species) || "").toLowerCase().replace(/[^a-z]/g, "");
    return SPECIES_IMAGES.has(key) ? `img/${key}.svg` : PLACEHOLDER;
  }

  function setImage(img, mysfit) {
    img.addEventListener("error", () => {
      if (!img.src.endsWith(PLACEHOLDER)) img.src = PLACEHOLDER;
    }, { once: true });
    img.src = imageFor(mysfit);
    img.alt = mysfit ? `${mysfit.name} the ${mysfit.species}` : "";
  }

  function formatAge(age) {
    if (typeof age !== "number") return "";
    return age >= 1e6 ? `${(age / 1e6).toLocaleString("en-US")} million years` : `${age.toLocaleString("en-US")} years`;
  }

  async function fetchJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // --- gallery ----------------------------------------------------------------------------------------
  function renderGallery() {
    const gallery = $("gallery");
    gallery.replaceChildren();
    for (const mysfit of state.catalog) {
      const img = el("img", { className: "card-image", width: "200", height: "200", loading: "lazy" });
      setImage(img, mysfit);
      const traits = el("p", { className: "traits" }, [
        el("span", { className: `badge badge-${String(mysfit.goodEvil).toLowerCase()}`, text: mysfit.goodEvil }),
        el("span", { className: `badge badge-${String(mysfit.lawChaos).toLowerCase()}`, text: mysfit.lawChaos }),
        el("span", { className: "badge badge-age", text: formatAge(mysfit.age) }),
      ]);
      gallery.append(el("li", {
        className: "card", "data-testid": "mysfit-card", "data-mysfit-id": mysfit.mysfitId,
      }, [
        img,
        el("h3", { className: "card-name", text: mysfit.name }),
        el("p", { className: "species", text: mysfit.species }),
        traits,
        el("p", { className: "description", text: mysfit.description }),
      ]));
    }
  }

  // --- questionnaire ----------------------------------------------------------------------------------
  function renderQuestions() {
    const container = $("questions");
    container.replaceChildren();
    state.questions.forEach((question, index) => {
      const name = `q-${question.id}`;
      const options = question.options.map((option) => {
        const id = `${name}-${option.value}`;
        return el("div", { className: "option" }, [
          el("input", { type: "radio", id, name, value: String(option.value), required: "" }),
          el("label", { for: id, text: option.text }),
        ]);
      });
      container.append(el("fieldset", {
        className: "question", "data-testid": `question-${question.id}`, "data-question": question.id,
      }, [
        el("legend", {}, [el("span", { className: "question-number", text: `${index + 1}` }), question.text]),
        el("div", { className: "options" }, options),
      ]));
    });
  }

  function answers() {
    return state.questions.map((question) => {
      const checked = document.querySelector(`input[name="q-${question.id}"]:checked`);
      return checked ? Number(checked.value) : null;
    });
  }

  function updateProgress() {
    const given = answers().filter((a) => a !== null).length;
    const total = state.questions.length;
    $("answer-progress").textContent = `${given} of ${total} answered`;
    $("submit-answers").disabled = state.busy || total === 0 || given < total;
  }

  function showError(message) {
    $("recommend-error-message").textContent = message;
    $("recommend-error").hidden = false;
    $("submit-answers").scrollIntoView({ block: "nearest" });
  }

  function clearError() {
    $("recommend-error").hidden = true;
    $("recommend-error-message").textContent = "";
  }

  function setBusy(busy) {
    state.busy = busy;
    const button = $("submit-answers");
    button.textContent = busy ? "Consulting the oracle…" : "Find my Mysfit";
    $("questionnaire-form").setAttribute("aria-busy", busy ? "true" : "false");
    updateProgress();
  }

  async function readMessage(response) {
    try {
      const body = await response.json();
      if (body && typeof body.message === "string" && body.message) return body.message;
    } catch (_) { /* not JSON */ }
    return `The recommendation service answered with an error (HTTP ${response.status}). Please try again.`;
  }

  async function submitAnswers(event) {
    event.preventDefault();
    const entry = answers();
    if (state.busy || entry.some((a) => a === null)) return;
    clearError();
    setBusy(true);
    let response;
    try {
      response = await fetch(API_PATH, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ entry }),
      });
    } catch (_) {
      setBusy(false);
      showError("We couldn't reach the Mysfits service. Check your connection and try again.");
      return;
    }
    try {
      if (!response.ok) {
        showError(await readMessage(response));
        return;
      }
      const body = await response.json();
      const mysfit = state.byId.get(body.recommendedMysfit) || body.mysfit;
      if (!mysfit) {
        showError("We found a Mysfit for you but could not look it up. Please try again.");
        return;
      }
      showResult(mysfit, body.recommendedMysfit);
    } catch (_) {
      showError("The recommendation service sent an answer we could not read. Please try again.");
    } finally {
      setBusy(false);
    }
  }

  function showResult(mysfit, id) {
    const result = $("recommend-result");
    result.dataset.mysfitId = id || mysfit.mysfitId || "";
    setImage($("result-image"), mysfit);
    $("result-name").textContent = mysfit.name;
    $("result-species").textContent = mysfit.species;
    $("result-traits").replaceChildren(
      el("span", { className: `badge badge-${String(mysfit.goodEvil).toLowerCase()}`, text: mysfit.goodEvil }),
      el("span", { className: `badge badge-${String(mysfit.lawChaos).toLowerCase()}`, text: mysfit.lawChaos }),
      el("span", { className: "badge badge-age", text: formatAge(mysfit.age) }),
    );
    $("result-description").textContent = mysfit.description;
    $("questionnaire-form").hidden = true;
    result.hidden = false;
    $("result-heading").focus();
  }

  function showQuestions(reset) {
    if (reset) $("questionnaire-form").reset();
    clearError();
    $("recommend-result").hidden = true;
    $("questionnaire-form").hidden = false;
    updateProgress();
    const first = $("questions").querySelector("input:checked") || $("questions").querySelector("input");
    if (first) first.focus();
  }

  // --- dialog -----------------------------------------------------------------------------------------
  function openDialog() {
    const dialog = $("recommend-dialog");
    if (dialog.open) return;
    dialog.showModal();
    if ($("recommend-result").hidden) showQuestions(false);
    else $("result-heading").focus();
  }

  function closeDialog() {
    const dialog = $("recommend-dialog");
    if (dialog.open) dialog.close();
  }

  function wire() {
    const dialog = $("recommend-dialog");
    $("recommend-button").addEventListener("click", openDialog);
    $("dialog-close").addEventListener("click", closeDialog);
    $("result-close").addEventListener("click", closeDialog);
    $("start-over").addEventListener("click", () => showQuestions(true));
    $("questionnaire-form").addEventListener("change", () => { clearErrorIfIdle(); updateProgress(); });
    $("questionnaire-form").addEventListener("submit", submitAnswers);
    // Escape closes natively (the "cancel" event); a click on the backdrop closes too.
    dialog.addEventListener("click", (event) => { if (event.target === dialog) closeDialog(); });
    dialog.addEventListener("close", () => $("recommend-button").focus());
  }

  function clearErrorIfIdle() {
    if (!state.busy) clearError();
  }

  async function init() {
    wire();
    const [catalog, questionnaire] = await Promise.allSettled([fetchJson("mysfits.json"), fetchJson("questionnaire.json")]);
    if (catalog.status === "fulfilled") {
      state.catalog = catalog.value.mysfits || [];
      state.byId = new Map(state.catalog.map((m) => [m.mysfitId, m]));
      renderGallery();
      $("gallery-status").textContent = `${state.catalog.length} Mysfits are looking for a home.`;
    } else {
      $("gallery-status").textContent = "The Mysfits are hiding: we could not load them. Please reload the page.";
    }
    if (questionnaire.status === "fulfilled") {
      state.questions = questionnaire.value.questions || [];
      renderQuestions();
    } else {
      $("questions").replaceChildren(el("p", { className: "error", text: "We could not load the questions. Please reload the page." }));
    }
    updateProgress();
    document.body.dataset.ready = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

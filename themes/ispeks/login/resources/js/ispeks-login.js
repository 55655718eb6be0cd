/*
 * iSPEKS identity-first login, on Keycloak's single username-and-password form.
 *
 * Step one: "ID Pengguna" and "Seterusnya". Step two: the user's "Frasa Rahsia" and
 * "Imej Online" (fetched from the sidecar, states that use them) above "Kata Laluan",
 * with "Login" and "Kembali". The form is the same form throughout, posted to Keycloak
 * as is; without this script both fields simply show at once.
 *
 * The sidecar answers every ID alike (a stable decoy for IDs without a phrase), so the
 * page never learns, and never shows, whether an ID exists.
 */
(function () {
  "use strict";

  var form = document.getElementById("kc-form-login");
  if (!form) {
    return;
  }
  var password = document.getElementById("password");
  var toggle = document.getElementById("ispeks-toggle-password");
  var data = form.dataset;

  // "Tunjuk" / "Sembunyi": a labelled text button, for every page state.
  if (password && toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var show = password.type === "password";
      password.type = show ? "text" : "password";
      toggle.textContent = show ? data.msgHide : data.msgShow;
      toggle.setAttribute("aria-label", show ? data.msgHideLabel : data.msgShowLabel);
      toggle.setAttribute("aria-pressed", show ? "true" : "false");
    });
  }

  var username = document.getElementById("username");
  if (!data.ispeksSteps || !username || !password) {
    return;
  }

  var stepPassword = document.getElementById("ispeks-step-password");
  var next = document.getElementById("ispeks-next");
  var back = document.getElementById("ispeks-back");
  var login = document.getElementById("kc-login");
  var siteKey = document.getElementById("ispeks-site-key");
  var phrase = document.getElementById("ispeks-phrase");
  var image = document.getElementById("ispeks-image");
  var unavailable = document.getElementById("ispeks-site-key-unavailable");
  var errors = document.getElementById("input-error-container-username");
  var DESCRIBED_BY = "ispeks-phrase-label ispeks-phrase ispeks-image-label ispeks-image " +
    "ispeks-site-key-hint";
  var siteKeyUrl = data.siteKeyUrl || "";
  var galleryUrl = data.galleryUrl || "";
  var nextLabel = next.textContent;
  // The page's own short cache: "Kembali" then "Seterusnya" asks once a minute at most.
  var answers = {};
  var ANSWER_MS = 60000;
  var step = 1;
  var busy = false;

  function describedBy(ids) {
    username.setAttribute("aria-describedby", ids.join(" "));
  }

  function clientError(text) {
    errors.textContent = "";
    if (!text) {
      username.removeAttribute("aria-invalid");
      username.classList.remove("ispeks-input-error");
      describedBy(["username-hint"]);
      return;
    }
    var p = document.createElement("p");
    p.className = "ispeks-error";
    var span = document.createElement("span");
    span.id = "input-error-username";
    span.className = "kc-feedback-text";
    span.textContent = text;
    p.appendChild(span);
    errors.appendChild(p);
    username.setAttribute("aria-invalid", "true");
    username.classList.add("ispeks-input-error");
    describedBy(["username-hint", "input-error-username"]);
  }

  function showStepOne(focus, clearPassword) {
    step = 1;
    form.setAttribute("data-step", "1");
    stepPassword.hidden = true;
    login.hidden = true;
    back.hidden = true;
    next.hidden = false;
    if (siteKey) {
      siteKey.hidden = true;
    }
    if (unavailable) {
      unavailable.hidden = true;
    }
    username.readOnly = false;
    username.classList.remove("ispeks-input-readonly");
    if (clearPassword) {
      password.value = "";  // "Kembali": a password typed for another ID goes too
      forget();
    }
    if (focus) {
      username.focus();
    }
  }

  function showStepTwo() {
    step = 2;
    form.setAttribute("data-step", "2");
    username.readOnly = true;
    username.classList.add("ispeks-input-readonly");
    next.hidden = true;
    stepPassword.hidden = false;
    login.hidden = false;
    back.hidden = false;
    password.focus();
  }

  function render(answer) {
    var lang = (document.documentElement.lang || "ms").slice(0, 2);
    var alt = lang === "en" ? answer.image.alt_en : answer.image.alt_ms;
    phrase.textContent = answer.phrase;
    image.src = answer.image.url;
    image.alt = alt;
    // Focus goes to the password: screen readers read the phrase, the picture's
    // description and the hint with it (the elements themselves, no copies).
    password.setAttribute("aria-describedby", DESCRIBED_BY);
    siteKey.hidden = false;
    if (unavailable) {
      unavailable.hidden = true;
    }
  }

  function forget() {
    // "Kembali": nothing of the previous ID stays on the page or on the password field.
    if (siteKey) {
      siteKey.hidden = true;
      phrase.textContent = "";
      image.removeAttribute("src");
      image.alt = "";
    }
    password.removeAttribute("aria-describedby");
  }

  function valid(answer) {
    // Only text, and only a picture of the sidecar's own gallery.
    return answer && typeof answer.phrase === "string" && answer.image &&
      typeof answer.image.url === "string" && answer.image.url.indexOf(galleryUrl) === 0 &&
      typeof answer.image.alt_ms === "string" && typeof answer.image.alt_en === "string";
  }

  function fetchSiteKey(id) {
    var kept = Object.prototype.hasOwnProperty.call(answers, id) ? answers[id] : null;
    if (kept && Date.now() - kept.at < ANSWER_MS) {
      return Promise.resolve(kept.answer);
    }
    var body = new URLSearchParams();
    body.set("id", id);
    return fetch(siteKeyUrl, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      headers: { "Accept": "application/json" },
      body: body
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("site key: HTTP " + response.status);
      }
      return response.json();
    }).then(function (answer) {
      if (!valid(answer)) {
        throw new Error("site key: unexpected answer");
      }
      answers[id] = { answer: answer, at: Date.now() };
      return answer;
    });
  }

  function goNext() {
    if (busy) {
      return;
    }
    var id = username.value.trim();
    if (!id) {
      clientError(data.msgIdRequired);
      username.focus();
      return;
    }
    clientError("");
    if (!siteKeyUrl) {
      showStepTwo();
      return;
    }
    busy = true;
    next.disabled = true;
    next.setAttribute("aria-busy", "true");
    next.textContent = data.msgLoading;
    fetchSiteKey(id).then(render, function () {
      // Still let the user in, but say that the check could not be shown.
      forget();
      if (unavailable) {
        unavailable.hidden = false;
      }
    }).then(function () {
      busy = false;
      next.disabled = false;
      next.removeAttribute("aria-busy");
      next.textContent = nextLabel;
      showStepTwo();
    });
  }

  next.addEventListener("click", goNext);
  back.addEventListener("click", function () {
    showStepOne(true, true);
  });
  username.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && step === 1) {
      event.preventDefault();
      goNext();
    }
  });
  form.addEventListener("submit", function (event) {
    if (step === 1) {
      event.preventDefault();
      goNext();
      return;
    }
    login.disabled = true;  // as keycloak.v2 does: one submission only
  });

  form.classList.add("ispeks-js");
  // Not cleared at load: a password manager may have filled it in already.
  showStepOne(false, false);
})();

/* Account activation pages: the security-question picker and the live password checklist.
 *
 * Progressive enhancement only: without this script the forms still work (three
 * question rows; the server checks every rule again). The rules come from the server
 * (password_rules.rules_as_data(), in the form's data-rules attribute), so the page and
 * the server can never disagree about them. No inline code: the CSP forbids it.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function normaliseAnswer(text) {
    return text.normalize("NFKC").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
  }

  /* -- Security questions: "Soalan / Jawapan / Tambah", rows with "Padam" -------------- */

  function enhanceQuestions(form) {
    var picker = document.getElementById("qa-picker");
    var pickQuestion = document.getElementById("qa-pick-question");
    var pickAnswer = document.getElementById("qa-pick-answer");
    var addButton = document.getElementById("qa-add");
    var pickError = document.getElementById("qa-pick-error");
    var full = document.getElementById("qa-full");
    var table = document.getElementById("qa-table");
    var empty = document.getElementById("qa-empty");
    var status = document.getElementById("qa-status");
    var next = document.getElementById("qa-next");
    var rows = Array.prototype.slice.call(form.querySelectorAll(".qa-row"));
    var minAnswer = parseInt(form.dataset.minAnswer, 10) || 1;
    var maxAnswer = parseInt(form.dataset.maxAnswer, 10) || 100;
    var msg = form.dataset;

    function slot(row) {
      return {
        select: row.querySelector(".qa-question"),
        text: row.querySelector(".qa-question-text"),
        answer: row.querySelector(".qa-answer"),
        remove: row.querySelector(".qa-remove")
      };
    }

    function questionText(select) {
      var option = select.options[select.selectedIndex];
      return option ? option.text : "";
    }

    function chosenIds() {
      return rows.map(function (row) { return slot(row).select.value; }).filter(Boolean);
    }

    function filledCount() {
      return chosenIds().length;
    }

    function answerProblem(answer) {
      var normalised = normaliseAnswer(answer);
      if (!normalised) { return msg.msgAnswerRequired; }
      if (normalised.length < minAnswer) { return msg.msgAnswerShort; }
      return "";
    }

    function render() {
      var chosen = chosenIds();
      rows.forEach(function (row) {
        var s = slot(row);
        var filled = Boolean(s.select.value);
        row.classList.toggle("qa-row-empty", !filled);
        s.select.hidden = filled;
        s.text.hidden = !filled;
        s.text.textContent = filled ? questionText(s.select) : "";
        s.remove.hidden = !filled;
      });
      Array.prototype.forEach.call(pickQuestion.options, function (option) {
        option.disabled = Boolean(option.value) && chosen.indexOf(option.value) !== -1;
      });
      if (pickQuestion.selectedOptions[0] && pickQuestion.selectedOptions[0].disabled) {
        pickQuestion.value = "";
      }
      var count = chosen.length;
      var isFull = count >= rows.length;
      picker.hidden = isFull;
      full.hidden = !isFull;
      table.classList.toggle("qa-table-empty", count === 0);
      empty.hidden = count !== 0;
      var answered = rows.every(function (row) {
        var s = slot(row);
        return s.select.value && !answerProblem(s.answer.value);
      });
      next.disabled = !(isFull && answered);
      next.title = next.disabled ? format(msg.msgCount, { count: count }) : "";
    }

    function announce(text) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }

    function showPickError(text, field) {
      pickError.textContent = text;
      pickError.hidden = !text;
      [pickQuestion, pickAnswer].forEach(function (input) {
        if (input === field && text) {
          input.setAttribute("aria-invalid", "true");
          input.setAttribute("aria-describedby", "qa-pick-error");
        } else {
          input.removeAttribute("aria-invalid");
          input.removeAttribute("aria-describedby");
        }
      });
      if (text && field) { field.focus(); }
    }

    function add() {
      var question = pickQuestion.value;
      var answer = pickAnswer.value;
      if (!question) { showPickError(msg.msgChoose, pickQuestion); return; }
      if (chosenIds().indexOf(question) !== -1) { showPickError(msg.msgDuplicate, pickQuestion); return; }
      var problem = answerProblem(answer);
      if (problem) { showPickError(problem, pickAnswer); return; }
      if (answer.length > maxAnswer) { answer = answer.slice(0, maxAnswer); }
      var target = rows.filter(function (row) { return !slot(row).select.value; })[0];
      if (!target) { return; }
      var s = slot(target);
      s.select.value = question;
      s.answer.value = answer;
      s.select.removeAttribute("aria-invalid");
      showPickError("", null);
      pickQuestion.value = "";
      pickAnswer.value = "";
      render();
      announce(msg.msgAdded + " " + format(msg.msgCount, { count: filledCount() }));
      if (filledCount() >= rows.length) { next.focus(); } else { pickQuestion.focus(); }
    }

    function removeAt(index) {
      // Shift the rows below up, so the numbering stays 1, 2, 3 without gaps.
      for (var i = index; i < rows.length; i += 1) {
        var here = slot(rows[i]);
        var below = i + 1 < rows.length ? slot(rows[i + 1]) : null;
        here.select.value = below ? below.select.value : "";
        here.answer.value = below ? below.answer.value : "";
      }
      rows.forEach(function (row) {
        row.querySelectorAll(".error-message").forEach(function (node) { node.remove(); });
        row.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
        row.querySelectorAll(".field-invalid").forEach(function (node) { node.classList.remove("field-invalid"); });
      });
      render();
      announce(msg.msgRemoved + " " + format(msg.msgCount, { count: filledCount() }));
      if (!picker.hidden) { pickQuestion.focus(); }
    }

    // A row the server sent back with a question but no valid answer stays editable in
    // place; a row with an answer but no question is dropped (nothing to attach it to).
    rows.forEach(function (row) {
      var s = slot(row);
      if (!s.select.value) { s.answer.value = ""; }
    });
    var kept = rows.map(function (row) {
      var s = slot(row);
      return { q: s.select.value, a: s.answer.value };
    }).filter(function (entry) { return entry.q; });
    rows.forEach(function (row, index) {
      var s = slot(row);
      var entry = kept[index];
      if (entry && s.select.value !== entry.q) {
        s.select.value = entry.q;
        s.answer.value = entry.a;
      } else if (!entry) {
        s.select.value = "";
        s.answer.value = "";
      }
    });

    addButton.addEventListener("click", add);
    pickAnswer.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); add(); }
    });
    pickQuestion.addEventListener("change", function () { showPickError("", null); });
    rows.forEach(function (row, index) {
      slot(row).remove.addEventListener("click", function () { removeAt(index); });
      slot(row).answer.addEventListener("input", render);
    });
    picker.hidden = false;
    render();
  }

  /* -- Password: live checklist, "Tunjuk Kata Laluan", "Selesai" when all pass ------- */

  function compile(rule) {
    if (rule.kind !== "pattern") { return null; }
    try {
      return new RegExp(rule.value, "u");
    } catch (error) {
      return null; // an old browser without \p{..}: the server still checks
    }
  }

  function passes(rule, pattern, password, confirm, userId) {
    switch (rule.kind) {
      case "min_length": return Array.from(password).length >= rule.value;
      case "max_length": return Array.from(password).length <= rule.value;
      case "pattern": return pattern ? pattern.test(password) : true;
      case "not_user_id": {
        if (!userId) { return true; }
        var lowered = password.toLowerCase();
        var digits = password.replace(/\D/g, "");
        return lowered.indexOf(userId.toLowerCase()) === -1 &&
          !(/^\d+$/.test(userId) && digits.indexOf(userId) !== -1);
      }
      case "matches_confirm": return password === confirm;
      default: return true; // "server": only the server can tell (the common list)
    }
  }

  function enhancePassword(form) {
    var rules;
    try {
      rules = JSON.parse(form.dataset.rules || "[]");
    } catch (error) {
      return;
    }
    var password = document.getElementById("password");
    var confirm = document.getElementById("confirm");
    var submit = document.getElementById("password-submit");
    var box = document.getElementById("password-rules");
    var heading = document.getElementById("rules-heading");
    var status = document.getElementById("rules-status");
    var confirmState = document.getElementById("confirm-state");
    var showField = document.getElementById("show-password-field");
    var show = document.getElementById("show-password");
    var userId = form.dataset.userId || "";
    var locale = form.dataset.locale === "en" ? "en" : "ms";
    var compiled = rules.map(compile);
    var items = {};
    Array.prototype.forEach.call(form.querySelectorAll(".rule"), function (item) {
      items[item.dataset.rule] = item;
    });
    var lastAllMet = null;

    function update() {
      var pw = password.value;
      var cf = confirm.value;
      var allMet = true;
      var typed = pw.length > 0;
      rules.forEach(function (rule, index) {
        var ok = passes(rule, compiled[index], pw, cf, userId);
        var item = items[rule.id];
        if (item) {
          // Nothing typed yet: plain bullets, not a wall of red crosses.
          item.classList.toggle("rule-met", ok && typed);
          item.classList.toggle("rule-unmet", !ok && typed);
          item.querySelector(".rule-state").textContent =
            "(" + (ok ? form.dataset.msgRuleMet : form.dataset.msgRuleUnmet) + ")";
        }
        if (!ok && rule.kind !== "matches_confirm") { allMet = false; }
      });
      var matches = pw === cf;
      if (cf) {
        confirmState.hidden = false;
        confirmState.textContent = matches ? "\u2713 " + form.dataset.msgConfirmMatches :
          rules.filter(function (r) { return r.kind === "matches_confirm"; })
            .map(function (r) { return r[locale]; })[0] || "";
        confirmState.className = "confirm-state " + (matches ? "is-ok" : "is-bad");
      } else {
        confirmState.hidden = true;
      }
      box.classList.toggle("all-met", allMet);
      heading.textContent = allMet ? form.dataset.msgMet : form.dataset.msgUnmet;
      submit.disabled = !(allMet && matches && cf.length > 0);
      if (allMet !== lastAllMet && lastAllMet !== null) {
        status.textContent = heading.textContent;
      }
      lastAllMet = allMet;
    }

    password.addEventListener("input", update);
    confirm.addEventListener("input", update);
    showField.hidden = false;
    show.addEventListener("change", function () {
      var type = show.checked ? "text" : "password";
      password.type = type;
      confirm.type = type;
    });
    form.addEventListener("submit", function (event) {
      if (submit.disabled) { event.preventDefault(); }
      // Never leave the password readable on screen while the next page loads.
      password.type = "password";
      confirm.type = "password";
    });
    update();
  }

  function init() {
    var questions = document.getElementById("qa-form");
    if (questions) { enhanceQuestions(questions); }
    var passwordForm = document.getElementById("password-form");
    if (passwordForm) { enhancePassword(passwordForm); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());

// 守护 Shouhu: small page helpers (no build step). Everything works without them; they make a phone easier.
document.addEventListener("DOMContentLoaded", function () {
  // Tell the person when an autosave did not reach the server.
  function say(event, text) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "draft-status") {
      target.innerHTML = "";
      var span = document.createElement("span");
      span.className = "warn";
      span.textContent = text;
      target.appendChild(span);
    }
  }
  document.body.addEventListener("htmx:sendError", function (event) {
    say(event, "网络不稳定，草稿暂未保存；继续填写时会再次尝试。");
  });
  document.body.addEventListener("htmx:responseError", function (event) {
    say(event, "草稿未能保存，请检查填写内容或刷新页面后重试。");
  });

  // Conditional fields (JSON-schema if/then, dependentRequired): shown only when they apply. The server
  // applies the same rule (api/web/formfields.py: applies), so a hidden field is never stored.
  function valueOf(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if (el.disabled) continue;
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) return el.value.trim();
      } else {
        return (el.value || "").trim();
      }
    }
    return "";
  }
  function holds(form, clause) {
    if (clause.not) return !clause.not.every(function (c) { return holds(form, c); });
    var text = valueOf(form, clause.field);
    if (clause["in"]) return clause["in"].indexOf(text) >= 0;
    if (clause.not_in) return text !== "" && clause.not_in.indexOf(text) < 0;
    return text !== "";
  }
  function refresh(form) {
    form.querySelectorAll("[data-show-if]").forEach(function (field) {
      var alternatives = JSON.parse(field.getAttribute("data-show-if"));
      var on = alternatives.some(function (all) { return all.every(function (c) { return holds(form, c); }); });
      field.hidden = !on;
      field.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !on; });
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-show-if]")) return;
    refresh(form);
    form.addEventListener("change", function () { refresh(form); });
  });

  // Dates: typed as 年-月-日 (the same on every phone, whatever its language), read back in Chinese
  // (2026年12月2日), with the phone's own calendar one tap away.
  function chineseDate(text) {
    var m = /^(\d{4})\D+(\d{1,2})\D+(\d{1,2})/.exec(text || "") || /^(\d{4})(\d{2})(\d{2})$/.exec(text || "");
    return m ? m[1] + "年" + Number(m[2]) + "月" + Number(m[3]) + "日" : "";
  }
  document.querySelectorAll("input[data-date]").forEach(function (input) {
    var hint = document.createElement("p");
    hint.className = "date-hint";
    hint.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", hint);
    function show() {
      var text = chineseDate(input.value.trim());
      hint.textContent = text ? "即 " + text : (input.value.trim() ? "请按 年-月-日 填写，如 2026-12-02" : "格式：年-月-日");
    }
    var picker = document.createElement("input");
    picker.type = "date";
    picker.tabIndex = -1;
    picker.className = "date-picker";
    picker.setAttribute("aria-hidden", "true");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "date-button";
    button.textContent = "选择日期";
    if (typeof picker.showPicker === "function") {
      hint.insertAdjacentElement("afterend", button);
      button.insertAdjacentElement("afterend", picker);
      button.addEventListener("click", function () {
        if (/^\d{4}-\d{2}-\d{2}$/.test(input.value.trim())) picker.value = input.value.trim();
        try { picker.showPicker(); } catch (e) { input.focus(); }
      });
      picker.addEventListener("change", function () {
        if (!picker.value) return;
        input.value = picker.value;
        show();
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
    }
    input.addEventListener("change", show);
    input.addEventListener("input", show);
    show();
  });

  // After a refused submit: the first field to correct is brought into view and focused (not the page top).
  var wrong = document.querySelector(".field.has-error:not([hidden])");
  if (wrong) {
    var input = wrong.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
    wrong.scrollIntoView({ block: "center" });
    if (input) input.focus({ preventScroll: true });
  } else {
    var alert = document.querySelector("main .alert[role=alert]");
    if (alert && document.querySelector("main form.form")) alert.scrollIntoView({ block: "center" });
  }
});

// 守护 Shouhu: the case history page. The diagram (bpmn-js NavigatedViewer, read only) and the case data as
// they stood after any event: the server replays the log up to that event; nothing is kept in the browser.
(function () {
  "use strict";
  var root = document.getElementById("replay");
  if (!root) return;
  var caseId = root.dataset.case;
  var last = parseInt(root.dataset.last, 10);
  var slider = document.getElementById("step-slider");
  var label = document.getElementById("step-label");
  var viewer = null;
  var shownVersion = null;
  var marked = [];
  var request = 0;

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function setViewer() {
    if (viewer || !window.BpmnJS) return viewer;
    viewer = new window.BpmnJS({ container: "#diagram" });
    return viewer;
  }

  function showDiagram(version) {
    if (!setViewer()) {
      document.getElementById("diagram-missing").hidden = false;
      return Promise.resolve(false);
    }
    if (version === shownVersion) return Promise.resolve(true);
    return fetch("/cases/" + caseId + "/history/diagram/" + version, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("流程图读取失败");
        return r.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        shownVersion = version;
        marked = [];
        viewer.get("canvas").zoom("fit-viewport");
        return true;
      });
  }

  function mark(state) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    marked = [];
    var done = new Set(state.done);
    var open = new Set(state.open);
    registry.forEach(function (el) {
      var cls = null;
      if (el.waypoints) {
        var from = el.source && el.source.id;
        var to = el.target && el.target.id;
        if (done.has(from) && (done.has(to) || open.has(to))) cls = "hist-done";
      } else if (open.has(el.id)) {
        cls = "hist-open";
      } else if (done.has(el.id)) {
        cls = "hist-done";
      }
      if (cls) {
        canvas.addMarker(el.id, cls);
        marked.push([el.id, cls]);
      }
    });
  }

  function showState(state) {
    document.getElementById("state-status").textContent = state.status_label;
    var open = document.getElementById("state-open");
    open.replaceChildren();
    if (!state.open_tasks.length) open.appendChild(text("li", "没有待办步骤", "muted"));
    state.open_tasks.forEach(function (t) {
      open.appendChild(text("li", t.name + "（" + t.role + (t.due ? "，期限 " + t.due : "") + "）"));
    });
    var data = document.getElementById("state-data");
    data.replaceChildren();
    state.data.forEach(function (pair) {
      data.appendChild(text("dt", pair[0]));
      data.appendChild(text("dd", pair[1]));
    });
    document.querySelectorAll(".hist-timeline li").forEach(function (li) {
      li.classList.toggle("hist-current", parseInt(li.dataset.seq, 10) === state.seq);
      li.classList.toggle("hist-later", parseInt(li.dataset.seq, 10) > state.seq);
    });
  }

  function go(seq) {
    seq = Math.max(1, Math.min(last, seq));
    slider.value = String(seq);
    var item = document.getElementById("event-" + seq);
    label.textContent = "事件 " + seq + " / " + last + "：" + (item ? item.dataset.what + "（" + item.dataset.at + "）" : "") + " 之后";
    root.dataset.seq = "";
    var mine = ++request;
    fetch("/cases/" + caseId + "/history/state?seq=" + seq, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("回放失败（" + r.status + "）");
        return r.json();
      })
      .then(function (state) {
        if (mine !== request) return null;
        showState(state);
        return showDiagram(state.version).then(function (ok) {
          if (ok && mine === request) mark(state);
          if (mine === request) root.dataset.seq = String(seq);
        });
      })
      .catch(function (err) {
        label.textContent = err.message + "，请刷新页面重试。";
      });
  }

  document.getElementById("step-first").addEventListener("click", function () { go(1); });
  document.getElementById("step-last").addEventListener("click", function () { go(last); });
  document.getElementById("step-back").addEventListener("click", function () { go(parseInt(slider.value, 10) - 1); });
  document.getElementById("step-forward").addEventListener("click", function () { go(parseInt(slider.value, 10) + 1); });
  slider.addEventListener("change", function () { go(parseInt(slider.value, 10)); });
  document.querySelectorAll(".step-to").forEach(function (button) {
    button.addEventListener("click", function () {
      go(parseInt(button.dataset.seq, 10));
      root.scrollIntoView({ behavior: "smooth" });
    });
  });
  go(last);
})();

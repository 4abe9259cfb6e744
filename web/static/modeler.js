/* 守护 Shouhu — the process modeler: bpmn-js / dmn-js editors over the process-version API.
   Plain script, no build step. Calls /api/process-models/... with the page's session cookie and its CSRF token. */
(function () {
  "use strict";

  var root = document.getElementById("modeler");
  if (!root) return;
  var CSRF = root.dataset.csrf;
  var API = "/api/process-models";
  var STATUS = { draft: "草稿", published: "已发布", retired: "已停用" };
  var SOURCE = { bundled: "随程序发布", uploaded: "管理员上传" };
  var CHANGE = { added: "新增", removed: "删除", changed: "修改" };
  var ROLES = JSON.parse(root.dataset.roles || "{}");  // role id → Chinese label (lanes are named by role id)
  var KINDS = [["1", "流程图"], ["2", "决策表"], ["3", "表单"], ["4", "其他文件"]];

  // Every time on this page in Beijing time, as on every other page: 2026年12月2日 11:09.
  function beijing(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return String(iso || "");
    var parts = {};
    new Intl.DateTimeFormat("zh-CN", {
      timeZone: "Asia/Shanghai", year: "numeric", month: "numeric", day: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    }).formatToParts(d).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "年" + parts.month + "月" + parts.day + "日 " + parts.hour + ":" + parts.minute;
  }
  var FORM_TEMPLATE = JSON.stringify({
    "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "新表单", "type": "object",
    "properties": { "note": { "type": "string", "title": "情况说明" } }, "required": [], "additionalProperties": false
  }, null, 2);

  var state = { key: root.dataset.process || "", versions: [], current: null, files: {}, active: null, problems: [], dirty: false };
  var $ = function (id) { return document.getElementById(id); };
  var bpmn = window.ShouhuBpmn ? new window.ShouhuBpmn({ container: "#bpmn-canvas" }) : null;
  var dmn = window.DmnJS ? new window.DmnJS({ container: "#dmn-canvas", common: { keyboard: { bindTo: null } } }) : null;
  var diffViews = {};

  // Unsaved edits: any command in an editor (not the clearing that comes with opening a file), any typing.
  function watch(eventBus) {
    eventBus.on("commandStack.changed", function (event) { if (event.trigger !== "clear") state.dirty = true; });
  }
  if (bpmn) {
    watch(bpmn.get("eventBus"));
    // a lane redrawn after an edit gets its Chinese label again
    bpmn.get("eventBus").on("elements.changed", 500, function () { setTimeout(function () { labelLanes(bpmn); }, 0); });
  }

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function say(message, bad) {
    var status = $("status");
    status.textContent = message;
    status.className = "mod-status" + (bad ? " bad" : " good");
  }

  async function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": CSRF, "Accept": "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    var response = await fetch(path, options);
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
    if (!response.ok) {
      var error = new Error((data && data.message) || ("请求失败（" + response.status + "）"));
      error.status = response.status;
      error.body = data;
      throw error;
    }
    return data;
  }

  // --- processes and versions --------------------------------------------------------------------
  async function loadProcesses() {
    var processes = await api("GET", API);
    var select = $("process-select");
    select.innerHTML = processes.map(function (p) {
      return '<option value="' + esc(p.key) + '">' + esc(p.name) + "（" + esc(p.key) + "）</option>";
    }).join("");
    if (!state.key && processes.length) state.key = processes[0].key;
    if (state.key && !processes.some(function (p) { return p.key === state.key; })) {
      select.insertAdjacentHTML("beforeend", '<option value="' + esc(state.key) + '">' + esc(state.key) + "（新）</option>");
    }
    select.value = state.key;
  }

  async function loadVersions() {
    if (!state.key) return;
    try {
      state.versions = await api("GET", API + "/" + encodeURIComponent(state.key) + "/versions");
    } catch (e) {
      if (e.status !== 404) throw e;
      state.versions = [];
    }
    renderVersions();
  }

  function versionLabel(v) {
    return "#" + v.id + " " + (STATUS[v.status] || v.status);
  }

  function renderVersions() {
    var rows = state.versions.map(function (v) {
      var open = state.current && state.current.id === v.id;
      var published = v.publications.length ? v.publications[v.publications.length - 1] : null;
      var action = v.status === "published" ? "" :
        '<button type="button" class="link" data-publish="' + v.id + '">' + (v.status === "retired" ? "回退到此版" : "发布") + "</button>";
      return '<tr data-version="' + v.id + '"' + (open ? ' class="open"' : "") + ">" +
        "<td>" + v.id + "</td>" +
        '<td><span class="st st-' + esc(v.status) + '">' + esc(STATUS[v.status] || v.status) + "</span></td>" +
        '<td class="small">' + esc(v.created_by_label || v.created_by) + "<br>" + esc(beijing(v.created_at)) +
        (published ? '<br><span class="muted">发布：' + esc(published.by_label || published.by) + "</span>" : "") + "</td>" +
        '<td class="small">' + esc(v.note) + '<br><span class="muted">' + esc(SOURCE[v.source] || v.source) + "</span></td>" +
        "<td>" + v.running_cases + "</td>" +
        '<td><button type="button" class="link" data-open="' + v.id + '">打开</button> ' + action + "</td></tr>";
    });
    $("versions").innerHTML = rows.join("") || '<tr><td colspan="6" class="muted">还没有版本</td></tr>';
    var options = state.versions.map(function (v) { return '<option value="' + v.id + '">' + esc(versionLabel(v)) + "</option>"; }).join("");
    ["diff-from", "diff-to", "migrate-from"].forEach(function (id) {
      var keep = $(id).value;
      $(id).innerHTML = options;
      if (keep) $(id).value = keep;
    });
    if (state.versions.length > 1 && !$("diff-from").dataset.touched) {
      $("diff-from").value = String(state.versions[1].id);
      $("diff-to").value = String(state.versions[0].id);
    }
  }

  async function openVersion(id) {
    var version = await api("GET", API + "/" + encodeURIComponent(state.key) + "/versions/" + id);
    state.current = version;
    state.files = Object.assign({}, version.files);
    state.active = null;
    state.dirty = false;
    $("editing-label").textContent = "版本 #" + version.id + "（" + (STATUS[version.status] || version.status) + "）";
    renderVersions();
    renderTabs();
    await showFile(pickFirst());
    showProblems([]);
  }

  function pickFirst() {
    return state.files["process.bpmn"] !== undefined ? "process.bpmn" : Object.keys(state.files).sort()[0];
  }

  // --- files and editors -------------------------------------------------------------------------
  function fileOrder(path) {
    if (path === "process.bpmn") return "0";
    if (/\.bpmn$/.test(path)) return "1" + path;
    if (/\.dmn$/.test(path)) return "2" + path;
    if (/^forms\//.test(path)) return "3" + path;
    return "4" + path;
  }

  // All files of the version, grouped by kind (diagrams, decisions, forms, other), every one reachable.
  function renderTabs() {
    var paths = Object.keys(state.files).sort(function (a, b) { return fileOrder(a) < fileOrder(b) ? -1 : 1; });
    var groups = KINDS.map(function (kind) {
      var mine = paths.filter(function (path) { return fileOrder(path).charAt(0) === kind[0] || (kind[0] === "1" && path === "process.bpmn"); });
      if (!mine.length) return "";
      return '<div class="mod-group" role="group" aria-label="' + kind[1] + '"><span class="mod-group-name">' + kind[1] +
        "（" + mine.length + "）</span>" + mine.map(function (path) {
          return '<button type="button" role="tab" data-file="' + esc(path) + '" aria-selected="' + (path === state.active) + '" title="' + esc(path) + '">' +
            esc(path.replace(/^forms\//, "")) + "</button>";
        }).join("") + "</div>";
    });
    $("file-tabs").innerHTML = '<p class="muted small mod-count">本版本共 ' + paths.length + " 个文件</p>" + groups.join("");
  }

  // Lanes are named by role id (the engine assigns tasks by it); the diagram shows the Chinese role label.
  function labelLanes(viewer) {
    var registry = viewer.get("elementRegistry");
    registry.filter(function (el) { return el.type === "bpmn:Lane" || el.type === "bpmn:Participant"; }).forEach(function (el) {
      var name = el.businessObject && el.businessObject.name;
      var label = ROLES[name];
      var text = registry.getGraphics(el).querySelector(".djs-visual text");
      if (!label || !text) return;
      var spans = text.querySelectorAll("tspan");
      if (!spans.length) { text.textContent = label; return; }
      spans[0].textContent = label;
      for (var i = 1; i < spans.length; i++) spans[i].textContent = "";
    });
  }

  // Fit the diagram beside the palette (the tools on the left), not under it.
  function fitBesidePalette(viewer, container) {
    var canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport");
    var palette = container.querySelector(".djs-palette");
    var box = canvas.viewbox();
    var inner = box.inner;
    if (!palette || !inner || !inner.width) return;
    var left = palette.getBoundingClientRect().width + 24, margin = 16;
    var width = container.clientWidth, height = container.clientHeight;
    var scale = Math.min((width - left - margin) / inner.width, (height - 2 * margin) / inner.height, 1);
    if (!(scale > 0)) return;
    canvas.viewbox({ x: inner.x - left / scale, y: inner.y - margin / scale, width: width / scale, height: height / scale });
  }

  async function keepActive() {
    var path = state.active;
    if (!path) return;
    if (/\.bpmn$/.test(path) && !$("bpmn-canvas").hidden && bpmn) {
      state.files[path] = (await bpmn.saveXML({ format: true })).xml;
    } else if (/\.dmn$/.test(path) && !$("dmn-canvas").hidden && dmn) {
      state.files[path] = (await dmn.saveXML({ format: true })).xml;
    } else if (!$("text-editor").hidden) {
      state.files[path] = $("text-area").value;
    }
  }

  function showPane(which) {
    $("bpmn-canvas").hidden = which !== "bpmn";
    $("dmn-canvas").hidden = which !== "dmn";
    $("text-editor").hidden = which !== "text";
  }

  async function showFile(path) {
    await keepActive();
    state.active = path;
    renderTabs();
    var text = state.files[path];
    if (/\.bpmn$/.test(path) && bpmn && await importDiagram(bpmn, text, "bpmn")) {
      markProblems();
    } else if (/\.dmn$/.test(path) && dmn && await importDiagram(dmn, text, "dmn")) {
      await openDecisionTable();
    } else {
      showPane("text");
      $("text-label").textContent = path;
      $("text-area").value = text;
      renderPreview();
    }
  }

  async function importDiagram(viewer, text, which) {
    showPane(which);
    try {
      await viewer.importXML(text);
      if (which === "bpmn") {
        fitBesidePalette(viewer, $("bpmn-canvas"));
        labelLanes(viewer);
      }
      return true;
    } catch (e) {
      say("无法以图形方式打开（" + e.message + "），已改为文本编辑。没有图形信息（BPMNDI）的模型只能编辑 XML。", true);
      return false;
    }
  }

  async function openDecisionTable() {
    var table = dmn.getViews().filter(function (v) { return v.type === "decisionTable"; })[0];
    if (table) await dmn.open(table);
    var viewer = dmn.getActiveViewer();
    if (viewer && !viewer.shouhuWatched) { watch(viewer.get("eventBus")); viewer.shouhuWatched = true; }
  }

  // --- the JSON-schema form editor: a textarea with a live preview --------------------------------
  function renderPreview() {
    var preview = $("form-preview");
    if (!/^forms\/.+\.json$/.test(state.active || "")) { preview.innerHTML = ""; return; }
    var schema;
    try { schema = JSON.parse($("text-area").value); } catch (e) {
      preview.innerHTML = '<p class="alert">不是有效的 JSON：' + esc(e.message) + "</p>";
      return;
    }
    var required = schema.required || [];
    var fields = Object.keys(schema.properties || {}).map(function (name) {
      return previewField(name, schema.properties[name] || {}, required.indexOf(name) >= 0);
    });
    preview.innerHTML = '<p class="muted small">预览（办事人员看到的表单）</p><form class="form" onsubmit="return false">' +
      "<h3>" + esc(schema.title || "") + "</h3>" + (schema.description ? '<p class="help">' + esc(schema.description) + "</p>" : "") +
      fields.join("") + "</form>";
  }

  function previewField(name, prop, required) {
    var label = esc(prop.title || name) + (required ? ' <span class="req">*</span>' : "");
    var help = prop.description ? '<p class="help">' + esc(prop.description) + "</p>" : "";
    var input;
    var choices = prop.oneOf || (prop.items && prop.items.oneOf);
    if (prop.type === "boolean") {
      input = '<label class="choice"><input type="checkbox"> ' + label + "</label>";
      return '<div class="field">' + input + help + "</div>";
    } else if (prop.type === "array" && choices) {
      input = '<div class="choices">' + choices.map(function (c) {
        return '<label class="choice"><input type="checkbox"> ' + esc(c.title || c.const) + "</label>";
      }).join("") + "</div>";
    } else if (choices || prop.enum) {
      input = "<select><option></option>" + (choices || prop.enum.map(function (v) { return { const: v }; })).map(function (c) {
        return "<option>" + esc(c.title || c.const) + "</option>";
      }).join("") + "</select>";
    } else if (prop.type === "integer" || prop.type === "number") {
      input = '<input type="number">';
    } else if (prop.format === "date") {
      input = '<input type="date">';
    } else if ((prop.maxLength || 0) > 200) {
      input = "<textarea></textarea>";
    } else {
      input = '<input type="text">';
    }
    return '<div class="field"><label>' + label + "</label>" + help + input + "</div>";
  }

  // --- validation messages on the diagram ---------------------------------------------------------
  function showProblems(problems) {
    state.problems = problems || [];
    var list = $("problem-list");
    if (!state.problems.length) {
      list.innerHTML = state.current ? '<li class="ok">未发现问题，可以发布。</li>' : '<li class="muted">保存草稿或点“校验”后在此显示。</li>';
    } else {
      list.innerHTML = state.problems.map(function (p) {
        return '<li class="problem" data-element="' + esc(p.element) + '" data-file="' + esc(p.file || "") + '">' +
          "<strong>" + esc(p.element) + "</strong>" + (p.line ? "（" + esc(p.file || "") + " 第 " + p.line + " 行）" : "") +
          "：" + esc(p.message) + "</li>";
      }).join("");
    }
    markProblems();
  }

  function markProblems() {
    if (!bpmn || $("bpmn-canvas").hidden) return;
    var canvas = bpmn.get("canvas"), overlays = bpmn.get("overlays"), registry = bpmn.get("elementRegistry");
    overlays.remove({ type: "shouhu-problem" });
    registry.getAll().forEach(function (element) { canvas.removeMarker(element.id, "shouhu-problem"); });
    var seen = {};
    state.problems.forEach(function (p) {
      var element = registry.get(p.element);
      if (!element || element.type === "label") return;
      canvas.addMarker(element.id, "shouhu-problem");
      seen[element.id] = (seen[element.id] || []).concat(p.message);
    });
    Object.keys(seen).forEach(function (id) {
      overlays.add(id, "shouhu-problem", {
        position: { top: -14, right: 14 },
        html: '<div class="mod-badge" role="note" title="' + esc(seen[id].join("\n")) + '">' + seen[id].length + "</div>"
      });
    });
  }

  async function focusProblem(item) {
    var file = item.dataset.file;
    if (file && file !== state.active && state.files[file] !== undefined) await showFile(file);
    if (bpmn && !$("bpmn-canvas").hidden) {
      var element = bpmn.get("elementRegistry").get(item.dataset.element);
      if (element) {
        bpmn.get("selection").select(element);
        bpmn.get("canvas").scrollToElement(element);
      }
    }
  }

  // --- save, validate, publish --------------------------------------------------------------------
  async function saveDraft() {
    if (!state.key) { say("请先选择或新建流程", true); return; }
    await keepActive();
    var note = $("note").value.trim();
    if (!note) { say("请填写修改说明：本次改了什么", true); $("note").focus(); return; }
    say("正在保存…");
    try {
      var body = await api("POST", API + "/" + encodeURIComponent(state.key) + "/versions", { files: state.files, note: note });
      await loadVersions();
      state.current = Object.assign({}, body.version, { files: Object.assign({}, state.files) });
      $("editing-label").textContent = "版本 #" + body.version.id + "（" + (STATUS[body.version.status] || body.version.status) + "）";
      renderVersions();
      showProblems(body.problems);
      state.dirty = false;
      say((body.created ? "已保存为草稿 #" : "内容与已有版本相同：#") + body.version.id +
          (body.valid ? "，校验通过" : "，有 " + body.problems.length + " 个问题需要修改"), !body.valid);
    } catch (e) {
      say("保存失败：" + e.message, true);
    }
  }

  async function validateCurrent() {
    if (!state.current) { say("请先打开或保存一个版本", true); return; }
    var body = await api("POST", API + "/" + encodeURIComponent(state.key) + "/versions/" + state.current.id + "/validate");
    showProblems(body.problems);
    say(body.valid ? "校验通过" : "有 " + body.problems.length + " 个问题", !body.valid);
  }

  async function publish(id) {
    try {
      await api("POST", API + "/" + encodeURIComponent(state.key) + "/versions/" + id + "/publish", { note: $("note").value.trim() });
      await loadVersions();
      if (state.current && state.current.id === id) {
        state.current.status = "published";
        $("editing-label").textContent = "版本 #" + id + "（已发布）";
      }
      say("已发布版本 #" + id + "：新案件按此版本开启，运行中的案件保持原版本");
    } catch (e) {
      if (e.body && e.body.details && e.body.details.problems) showProblems(e.body.details.problems);
      say("不能发布：" + e.message, true);
    }
  }

  async function publishCurrent() {
    if (!state.current) { say("请先保存草稿", true); return; }
    if (state.dirty) { say("有未保存的修改，请先保存草稿再发布", true); return; }
    await publish(state.current.id);
  }

  // --- comparing two versions ---------------------------------------------------------------------
  async function showDiff() {
    var from = $("diff-from").value, to = $("diff-to").value;
    if (!from || !to) return;
    var body = await api("GET", API + "/" + encodeURIComponent(state.key) + "/diff?from=" + from + "&to=" + to);
    $("diff").hidden = false;
    $("diff-from-label").textContent = "#" + body.from.id + " " + (STATUS[body.from.status] || "");
    $("diff-to-label").textContent = "#" + body.to.id + " " + (STATUS[body.to.status] || "");
    var files = await Promise.all([from, to].map(function (id) {
      return api("GET", API + "/" + encodeURIComponent(state.key) + "/versions/" + id);
    }));
    await drawDiff("from", files[0].files["process.bpmn"], body.elements, { removed: "diff-removed", changed: "diff-changed" });
    await drawDiff("to", files[1].files["process.bpmn"], body.elements, { added: "diff-added", changed: "diff-changed" });
    var lines = body.elements.map(function (e) {
      return '<li class="lg-' + e.change + '">' + CHANGE[e.change] + " " + esc(e.id) + (e.name ? "（" + esc(e.name) + "）" : "") +
        (e.details.length ? "：" + esc(e.details.join("、")) : "") + ' <span class="muted">' + esc(e.file) + "</span></li>";
    });
    ["added", "removed", "changed"].forEach(function (kind) {
      body.files[kind].forEach(function (path) { lines.push('<li class="lg-' + kind + '">' + CHANGE[kind] + "文件 " + esc(path) + "</li>"); });
    });
    $("diff-list").innerHTML = lines.join("") || '<li class="muted">两个版本相同</li>';
  }

  async function drawDiff(side, xml, elements, classes) {
    if (!window.ShouhuBpmn || !xml) return;
    if (!diffViews[side]) diffViews[side] = new window.ShouhuBpmn({ container: "#diff-" + side + "-canvas" });
    var viewer = diffViews[side];
    try {
      await viewer.importXML(xml);
    } catch (e) {
      $("diff-" + side + "-canvas").textContent = "该版本没有图形信息，见下方列表";
      return;
    }
    var canvas = viewer.get("canvas"), registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport");
    elements.forEach(function (e) {
      if (classes[e.change] && registry.get(e.id)) canvas.addMarker(e.id, classes[e.change]);
    });
  }

  // --- migrating running cases --------------------------------------------------------------------
  async function migrate(dryRun) {
    if (!state.current) { say("请先打开要迁入的版本", true); return; }
    var from = Number($("migrate-from").value);
    try {
      var body = await api("POST", API + "/" + encodeURIComponent(state.key) + "/migrations",
        { to_version_id: state.current.id, from_version_id: from, dry_run: dryRun });
      $("migrate-result").innerHTML = body.results.length ? "<ul class='plain'>" + body.results.map(function (r) {
        return "<li>" + esc(r.business_key) + "：" + (r.migrated ? "已迁移" : r.safe ? "可以安全迁移" : "不能迁移——" + esc(r.reasons.join("；"))) + "</li>";
      }).join("") + "</ul>" : '<p class="muted">该版本上没有运行中的案件</p>';
      if (!dryRun) { await loadVersions(); say("已迁移 " + body.migrated + " 个案件"); }
    } catch (e) {
      say("迁移失败：" + e.message, true);
    }
  }

  // --- new processes and files --------------------------------------------------------------------
  function skeleton(key) {
    return '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" ' +
      'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" ' +
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_' + key + '" targetNamespace="http://shouhu.example/bpmn">\n' +
      '  <bpmn:process id="' + key + '" name="新流程" isExecutable="true">\n' +
      '    <bpmn:startEvent id="start" name="开始"><bpmn:outgoing>f_start_end</bpmn:outgoing></bpmn:startEvent>\n' +
      '    <bpmn:endEvent id="end" name="结束"><bpmn:incoming>f_start_end</bpmn:incoming></bpmn:endEvent>\n' +
      '    <bpmn:sequenceFlow id="f_start_end" sourceRef="start" targetRef="end" />\n  </bpmn:process>\n' +
      '  <bpmndi:BPMNDiagram id="diagram_' + key + '"><bpmndi:BPMNPlane id="plane_' + key + '" bpmnElement="' + key + '">\n' +
      '    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="100" width="36" height="36" /></bpmndi:BPMNShape>\n' +
      '    <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="400" y="100" width="36" height="36" /></bpmndi:BPMNShape>\n' +
      '    <bpmndi:BPMNEdge id="f_start_end_di" bpmnElement="f_start_end"><di:waypoint x="216" y="118" /><di:waypoint x="400" y="118" /></bpmndi:BPMNEdge>\n' +
      "  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n</bpmn:definitions>\n";
  }

  async function newProcess() {
    var key = (window.prompt("新流程的标识（小写英文、数字和下划线，如 home_visit）") || "").trim();
    if (!key) return;
    if (!/^[a-z][a-z0-9_]{1,63}$/.test(key)) { say("流程标识只能用小写英文字母、数字和下划线，且以字母开头", true); return; }
    state.key = key;
    state.current = null;
    state.versions = [];
    state.files = { "process.bpmn": skeleton(key), "forms/start.json": FORM_TEMPLATE.replace("新表单", "开始") };
    state.active = null;
    state.dirty = true;
    await loadProcesses();
    renderVersions();
    renderTabs();
    $("editing-label").textContent = "新流程 " + key + "（未保存）";
    await showFile("process.bpmn");
  }

  async function newFile() {
    var path = (window.prompt("文件路径，如 forms/visit_home.json（表单名与用户任务的 id 相同）") || "").trim();
    if (!path) return;
    if (state.files[path] !== undefined) { await showFile(path); return; }
    state.files[path] = /\.json$/.test(path) ? FORM_TEMPLATE : "";
    state.dirty = true;
    await showFile(path);
  }

  // --- wiring -------------------------------------------------------------------------------------
  function on(id, event, handler) {
    $(id).addEventListener(event, function (e) {
      Promise.resolve(handler(e)).catch(function (error) { say(error.message, true); });
    });
  }

  on("process-select", "change", async function () {
    state.key = $("process-select").value;
    state.current = null;
    await loadVersions();
    var published = state.versions.filter(function (v) { return v.status === "published"; })[0] || state.versions[0];
    if (published) await openVersion(published.id);
  });
  on("versions", "click", async function (e) {
    var target = e.target.closest("button");
    if (!target) return;
    if (target.dataset.open) await openVersion(Number(target.dataset.open));
    if (target.dataset.publish) await publish(Number(target.dataset.publish));
  });
  on("file-tabs", "click", async function (e) {
    var tab = e.target.closest("button[data-file]");
    if (tab) await showFile(tab.dataset.file);
  });
  on("problem-list", "click", async function (e) {
    var item = e.target.closest("li.problem");
    if (item) await focusProblem(item);
  });
  on("text-area", "input", function () { state.dirty = true; renderPreview(); });
  on("save-draft", "click", saveDraft);
  on("validate", "click", validateCurrent);
  on("publish", "click", publishCurrent);
  on("diff-show", "click", showDiff);
  on("diff-from", "change", function () { $("diff-from").dataset.touched = "1"; });
  on("migrate-check", "click", function () { return migrate(true); });
  on("migrate-run", "click", function () { return migrate(false); });
  on("new-process", "click", newProcess);
  on("new-file", "click", newFile);

  (async function start() {
    try {
      await loadProcesses();
      await loadVersions();
      var wanted = Number(root.dataset.version) || 0;
      var first = state.versions.filter(function (v) { return v.id === wanted; })[0] ||
        state.versions.filter(function (v) { return v.status === "published"; })[0] || state.versions[0];
      if (first) await openVersion(first.id);
      root.dataset.ready = "1";
    } catch (e) {
      say(e.message, true);
    }
  })();
})();

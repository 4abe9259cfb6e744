// 守护 Shouhu: small page helpers (no build step). Tell the person when an autosave did not reach the server.
document.addEventListener("DOMContentLoaded", function () {
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
});

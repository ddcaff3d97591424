// Mostrador counter UI: small enhancements over plain forms. Every page works without this file except the
// signature pad, which needs a canvas. No network calls besides the forms themselves.
"use strict";

(function () {
  // Keep the scan box focused on the sale screen so a keyboard-wedge scanner always types into it.
  const scan = document.getElementById("scan-code");
  if (scan) { scan.focus(); }

  // Signature pad: strokes drawn with a finger or mouse become SVG path data ("M x y L x y ...") in a hidden field.
  const canvas = document.getElementById("signature-pad");
  const field = document.getElementById("signature");
  if (canvas && field) {
    const ctx = canvas.getContext("2d");
    const parts = [];
    let drawing = false;
    function resize() {
      const ratio = window.devicePixelRatio || 1;
      canvas.width = canvas.clientWidth * ratio;
      canvas.height = canvas.clientHeight * ratio;
      ctx.scale(ratio, ratio);
      ctx.lineWidth = 2; ctx.lineCap = "round"; ctx.strokeStyle = "#1b1f24";
    }
    function point(event) {
      const box = canvas.getBoundingClientRect();
      return [Math.round(event.clientX - box.left), Math.round(event.clientY - box.top)];
    }
    resize();
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true; canvas.setPointerCapture(event.pointerId);
      const [x, y] = point(event);
      parts.push("M" + x + " " + y);
      ctx.beginPath(); ctx.moveTo(x, y);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      const [x, y] = point(event);
      parts.push("L" + x + " " + y);
      ctx.lineTo(x, y); ctx.stroke();
      field.value = parts.join(" ");
    });
    function stop() { drawing = false; field.value = parts.join(" "); }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    const clear = document.getElementById("signature-clear");
    if (clear) {
      clear.addEventListener("click", function () {
        parts.length = 0; field.value = "";
        ctx.clearRect(0, 0, canvas.width, canvas.height);
      });
    }
  }

  // Forms marked data-confirm ask before posting (cancel a sale, refund).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
}());

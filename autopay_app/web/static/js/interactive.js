// Approval cards: a countdown to expiry; an expired card's Approve button is disabled.
(function () {
  "use strict";
  function tick() {
    document.querySelectorAll(".countdown[data-expires]").forEach((el) => {
      const left = Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000);
      const card = el.closest(".approval");
      if (left <= 0) {
        el.textContent = "expired";
        const button = card && card.querySelector("button.approve");
        if (button) { button.disabled = true; }
      } else {
        el.textContent = left + " s left";
      }
    });
  }
  tick();
  setInterval(tick, 1000);
  // Cards swapped in by the htmx poll get their countdown at once, not a second later.
  document.body.addEventListener("htmx:afterSwap", tick);
})();

// nexio_lite web console: the one small script. It refreshes the part of a page marked
// data-refresh (jobs still running, deliveries pending) from the same URL, every N
// seconds, while the tab is visible; it stops once the server no longer marks the page.
// Everything it fetches is on this origin.
"use strict";
(function () {
  function live() {
    return document.getElementById("live");
  }
  function schedule() {
    const region = live();
    if (!region || !region.dataset.refresh) return;
    const seconds = Math.max(1, parseInt(region.dataset.refresh, 10) || 3);
    window.setTimeout(refresh, seconds * 1000);
  }
  async function refresh() {
    if (document.visibilityState !== "visible") {
      document.addEventListener("visibilitychange", refresh, { once: true });
      return;
    }
    let answer;
    try {
      answer = await fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        redirect: "manual",
      });
    } catch (error) {
      schedule();
      return;
    }
    if (answer.status !== 200) return; // signed out, or gone: a reload will say so
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const fresh = page.getElementById("live");
    const region = live();
    if (!fresh || !region) return;
    region.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
    if (fresh.dataset.refresh) {
      region.dataset.refresh = fresh.dataset.refresh;
    } else {
      delete region.dataset.refresh;
    }
    const said = document.getElementById("refreshed");
    if (said) said.textContent = "Updated at " + new Date().toLocaleTimeString();
    schedule();
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();

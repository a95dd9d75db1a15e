// parley console: live updates. The pages work without this script; with
// it, a page follows the console's event stream (/console/events) and,
// when something happens to a conversation, fetches itself again and
// swaps in its live parts (the elements with data-live), leaving forms
// and what is being typed alone. No inline script anywhere: the
// Content-Security-Policy allows only this file.
(function () {
  'use strict';
  if (!window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var live = document.querySelectorAll('[data-live]');
  if (live.length === 0) {
    return;
  }
  var waiting = false;

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, 'text/html');
    Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), function (old) {
      var next = fresh.getElementById(old.id);
      if (next) {
        old.replaceWith(next);
      }
    });
    var count = document.getElementById('live-count');
    if (count) {
      count.textContent = String(Number(count.textContent || '0') + 1);
    }
  }

  function refresh() {
    if (waiting) {
      return;
    }
    waiting = true;
    // A burst of events (a message and its status) makes one fetch.
    window.setTimeout(function () {
      window.fetch(window.location.href, { credentials: 'same-origin' })
        .then(function (answer) {
          return answer.ok ? answer.text() : null;
        })
        .then(function (html) {
          waiting = false;
          if (html) {
            swap(html);
          }
        }, function () {
          waiting = false;
        });
    }, 200);
  }

  var stream = new window.EventSource('/console/events');
  // A browser holds six connections to a host: a page left (or kept in
  // the back-forward cache) must give its stream's back.
  window.addEventListener('pagehide', function () {
    stream.close();
  });
  ['message.created', 'ticket.created', 'ticket.status', 'ticket.assigned',
   'ticket.forwarded', 'message.moderated', 'read.marked', 'ticket.deleted',
   'ticket.restored', 'ticket.archived', 'ticket.unarchived'].forEach(function (kind) {
    stream.addEventListener(kind, refresh);
  });
})();

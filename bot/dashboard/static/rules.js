/* Haven dashboard, Rules page: live checks. The page works without this file (the test box
   and the editor are one form; each button posts it to its own action and the whole page
   comes back, the unsaved draft kept). Here the same form is posted as you type, with
   "X-Haven-Fragment: 1", and only the answer is swapped in: the draft's problems
   (file:line, as `haven check` prints them) and the test box's matches. */
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) { return; }

  function later(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  var turns = {};
  function post(form, action, target) {
    var data = new FormData(form);
    var turn = (turns[target.id] || 0) + 1;
    turns[target.id] = turn;
    return fetch(action, { method: "POST", body: data, credentials: "same-origin",
                           cache: "no-store", headers: { "X-Haven-Fragment": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && turns[target.id] === turn) { target.innerHTML = html; }
      })
      .catch(function () { /* the buttons still work */ });
  }

  var form = document.getElementById("rules-editor") || document.getElementById("rules-test-only");
  var results = document.getElementById("rules-results");
  var sample = document.getElementById("test-text");
  var tryButton = document.getElementById("rules-try");
  var problems = document.getElementById("rules-problems");
  var draft = document.getElementById("rules-text");
  var useDraft = document.getElementById("use-draft");
  if (!form) { return; }

  function runTest() { if (results) { post(form, "/rules/test", results); } }

  var testLater = later(runTest, 400);
  if (sample) { sample.addEventListener("input", testLater); }
  if (useDraft) { useDraft.addEventListener("change", runTest); }
  form.addEventListener("submit", function (e) {
    // Test answers in place; Check and Save post the whole page as without script
    if (tryButton && e.submitter === tryButton) { e.preventDefault(); runTest(); }
  });
  if (problems && draft) {
    draft.addEventListener("input", later(function () {
      post(form, "/rules/validate", problems);
      if (useDraft && useDraft.checked) { runTest(); }
    }, 500));
  }
})();

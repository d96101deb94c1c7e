/* Haven dashboard, Rules page: live checks. The page works without this file (each form
   posts and the whole page comes back). Here the same forms are posted as you type, with
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
  function post(form, action, extra, target) {
    var data = new FormData(form);
    Object.keys(extra || {}).forEach(function (k) { data.set(k, extra[k]); });
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

  var testForm = document.getElementById("rules-test");
  var results = document.getElementById("rules-results");
  var editor = document.getElementById("rules-editor");
  var problems = document.getElementById("rules-problems");
  var draft = document.getElementById("rules-text");
  var useDraft = document.getElementById("use-draft");

  function runTest() {
    if (!testForm || !results) { return; }
    var extra = useDraft && useDraft.checked && draft ? { draft: draft.value } : {};
    post(testForm, "/rules/test", extra, results);
  }

  if (testForm && results) {
    if (useDraft && draft) { document.getElementById("use-draft-label").hidden = false; }
    testForm.addEventListener("input", later(runTest, 400));
    testForm.addEventListener("submit", function (e) { e.preventDefault(); runTest(); });
  }
  if (editor && problems && draft) {
    draft.addEventListener("input", later(function () {
      post(editor, "/rules/validate", {}, problems);
      if (useDraft && useDraft.checked) { runTest(); }
    }, 500));
  }
})();

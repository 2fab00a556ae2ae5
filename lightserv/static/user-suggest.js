// Name suggestions for the username fields of the sharing and new-request forms. A
// <datalist data-user-suggest="<url>"> is filled, as a field with list="<its id>" is typed in, with the
// active users whose username or name starts with the name being typed (for a comma-separated field,
// the last name). Without JavaScript the fields are plain text inputs and the server checks every name.
(function () {
  "use strict";
  var WAIT_MS = 150;
  document.querySelectorAll("datalist[data-user-suggest]").forEach(function (list) {
    var url = list.getAttribute("data-user-suggest");
    document.querySelectorAll('input[list="' + list.id + '"]').forEach(function (input) {
      var several = input.hasAttribute("data-several-names");
      var timer = null;
      var asked = null;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          var names = several ? input.value.split(/[,;]/) : [input.value];
          var typed = names.pop().trim();
          var before = names.map(function (n) { return n.trim(); }).filter(Boolean);
          if (!typed || typed === asked) { return; }
          asked = typed;
          fetch(url + "?q=" + encodeURIComponent(typed), {credentials: "same-origin", headers: {Accept: "application/json"}})
            .then(function (response) { return response.ok ? response.json() : {users: []}; })
            .then(function (data) {
              list.replaceChildren.apply(list, data.users.map(function (user) {
                var option = document.createElement("option");
                option.value = before.concat([user.username]).join(", ");
                option.label = user.full_name ? user.username + " (" + user.full_name + ")" : user.username;
                return option;
              }));
            })
            .catch(function () { list.replaceChildren(); });
        }, WAIT_MS);
      });
    });
  });
})();

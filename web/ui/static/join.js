// An invitation link carries its token after the #, which browsers never send to a server
// (no access log or proxy sees it): move it into the form, then out of the address bar.
(function () {
  "use strict";
  var token = decodeURIComponent(window.location.hash.slice(1));
  var field = document.getElementById("token");
  if (token && field) {
    field.value = token;
    window.history.replaceState(null, "", window.location.pathname);
  }
})();

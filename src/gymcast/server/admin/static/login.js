// The login page (a file, not inline: the host's CSP allows no inline script).
  // The login link carries the token in the fragment (#token=...), which never reaches the server's logs:
  // take it out of the address bar and history at once, then log in with a POST.
  function fromFragment() {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (!token) return;
    history.replaceState(null, "", location.pathname);
    document.getElementById("token").value = token;
    document.forms[0].submit();
  }
  fromFragment();
  addEventListener("hashchange", fromFragment);

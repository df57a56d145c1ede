// The sign-in page is a plain form; this only keeps the token field focused after an error.
const t = document.getElementById('token');
if (t) t.focus();

/* Swagger UI for /api/docs. "Try it out" sends the dashboard session's cookie; a state change with a
   session also needs its CSRF token, which this adds to every request (an API key given under
   Authorize goes as the Authorization header instead, and needs no token). No inline script, so the
   page works under a Content-Security-Policy without 'unsafe-inline' for scripts. */
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Sections start folded: with every operation expanded at once (190 of them) this Swagger UI
    // stops rendering after the first few, and a list of sections reads better anyway.
    docExpansion: "none",
    persistAuthorization: false,
    requestInterceptor: (request) => {
      if (csrf) request.headers["X-CSRF-Token"] = csrf;
      return request;
    },
  });
});

#pragma once
// The admin web page (SPEC.md §5): static assets embedded in the binary at build time
// and served under /admin/. No files to deploy, no Node.js at run time.
#include "api/http_types.hpp"

namespace hookd::ui {

//! Serves /admin/ (index.html), /admin/<asset>, and redirects / and /admin to /admin/.
//! Anything else gets a 404 problem document.
[[nodiscard]] api::HttpResponse ServeAdmin(const api::HttpRequest& request);

}  // namespace hookd::ui

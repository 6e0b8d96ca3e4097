// The HTTP server (Boost.Beast, after the advanced server example): one io_context run on N
// threads, a strand per connection, keep-alive, a fresh parser per request with head and body
// limits, a timeout per request and per reply, a shared budget for large bodies in flight, and a
// bounded drain on SIGINT/SIGTERM. It only does I/O: HandleHttpRequest (handler.h) turns each
// request into Dispatch() calls and admin replies.
#pragma once

#include "src/app.h"

namespace kmsd {

// Largest request body: key policies go up to 32 KB, the largest blobs (ImportKeyMaterial,
// attestation documents) are far below; 512 KiB leaves headroom and stops abuse.
constexpr std::size_t kMaxBodyBytes = 512 * 1024;

// Runs the server until SIGINT/SIGTERM, then drains: the port closes, idle connections close,
// requests in flight finish (at most 5 s; a second signal stops at once). Returns 0, or 2 when
// the address cannot be bound.
int RunServer(App& app);

}  // namespace kmsd

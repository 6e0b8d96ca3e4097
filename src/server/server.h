// The HTTP server (Boost.Beast, after the advanced server example): one io_context run on N
// threads, a strand per connection, keep-alive, a fresh parser per request with a body limit and
// a timeout, SIGINT/SIGTERM for a clean stop. It turns HTTP into Dispatch() calls and admin
// replies; it knows nothing about KMS itself.
#pragma once

#include "src/app.h"

namespace kmsd {

// Largest request body: key policies go up to 32 KB, the largest blobs (ImportKeyMaterial,
// attestation documents) are far below; 512 KiB leaves headroom and stops abuse.
constexpr std::size_t kMaxBodyBytes = 512 * 1024;

// Runs the server until SIGINT/SIGTERM. `on_ready` runs once the port is bound.
int RunServer(App& app);

}  // namespace kmsd

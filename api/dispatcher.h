// Dispatch: one KMS request in, one response out. A pure function of (caller, target, content
// type, body): no sockets, so tests call it directly. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "api/context.h"
#include "common/secure_bytes.h"

namespace kmsd::api {

struct Response {
    int http_status = 200;
    SecureString body;       // JSON, or empty for operations without output
    std::string error_type;  // "" on success; the exception name otherwise (for logs, metrics)
    storage::KeyPtr key;     // the key the request resolved, if it got that far (for logs)
    int operation = -1;      // the model index of the operation named (api/validate.h); -1: none
};

class Dispatcher {
public:
    explicit Dispatcher(const Services& services) : services_(services) {}

    // With Services::audit set, each call of a model operation is recorded there (api/audit.h).
    Response Dispatch(const Caller& caller, std::string_view target, std::string_view content_type,
                      std::string_view body, const std::string& request_id) const;

private:
    const Services& services_;
};

}  // namespace kmsd::api

// The one place that turns a Status into what the client sees: the exception name (`__type`),
// the HTTP status and the JSON body (kms-reference §1.4).
#pragma once

#include <string>

#include "api/json.h"
#include "common/status.h"

namespace kmsd::api {

struct WireError {
    int http_status = 400;
    std::string type;  // bare exception name, e.g. NotFoundException
    SecureString body;
    std::string message;  // the body's message ("" when it has none)
};

const char* ExceptionName(ErrorCode code);
int HttpStatusOf(ErrorCode code);

// {"__type": ..., "message": ...}; the message member is left out when the message is empty
// (InvalidCiphertextException, UnknownOperationException, ...), as AWS does.
WireError ToWire(const Status& status);

}  // namespace kmsd::api

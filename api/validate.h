// Syntactic validation of a request against the KMS service model (generated from botocore into
// api/model/kms_model.inc): JSON types, required members, lengths, ranges, patterns and enums.
// Type mismatches are SerializationException; constraint violations are one ValidationException
// whose message lists them all in AWS's (Coral's) grammar:
//   "2 validation errors detected: Value 'x' at 'keyId' failed to satisfy constraint: Member
//    must have length less than or equal to 2048; Value null at ..."
// Service rules stricter than the model live in the operations.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "api/json.h"
#include "common/status.h"

namespace kmsd::api {

// True if `operation` is in the KMS model.
bool IsModelOperation(const std::string& operation);

// The model's operations by index, 0 .. OperationCount() - 1 (metrics label them so).
std::size_t OperationCount();
// -1 when `operation` is not in the model.
int OperationIndex(std::string_view operation);
// The index of the operation an X-Amz-Target ("TrentService.<operation>") names; -1 for none.
// A request's operation is looked up once, by this, and passed on by index.
int OperationIndexOfTarget(std::string_view target);
std::string_view OperationName(std::size_t index);

// Whether the input shape of `operation` has a member `member` (the route table's tests).
bool ModelInputHasMember(const std::string& operation, std::string_view member);

// Validates `input` as the input shape of the model operation `operation` (its index).
Status ValidateInput(int operation, const Json& input);

// Removes from `input` (a validated request of `operation`) what CloudTrail never records: members
// whose shape is a blob (plaintext, ciphertexts, messages, signatures, MACs, public keys, import
// tokens) or sensitive in the model (custom key store passwords, XKS proxy credentials).
void RemoveUnrecordedMembers(int operation, Json& input);

// What CloudTrail records of `input` (a validated request of `operation`), as JSON text appended
// to `out`: the text AppendJson writes of `input` after RemoveUnrecordedMembers and without the
// top-level GrantTokens and GrantToken (bearer secrets), written in one walk that changes
// nothing (every audited call records its request; the removal erased members only for them to
// be destroyed with the request).
void AppendRecordedRequest(int operation, const Json& input, SecureString& out);

// `params` (what RemoveUnrecordedMembers left) as CloudTrail's requestParameters: structure
// members in lowerCamelCase in the model's order; map keys (encryption context) as sent. Null
// for an unknown operation or a body that is not an object.
nlohmann::ordered_json CloudTrailParameters(std::string_view operation, const Json& params);

// Whether `value` matches a model pattern (exposed for tests and for op-level checks).
bool MatchesModelPattern(const char* pattern, std::string_view value);

}  // namespace kmsd::api

// SealedKeyStore: the read-only door through which the HSM loads sealed key material.
// storage/ implements it over SQLite; tests use an in-memory fake. Implementations must be
// thread-safe. Only sealed bytes ever cross this interface.
#pragma once

#include <string>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::hsm {

class SealedKeyStore {
public:
    virtual ~SealedKeyStore() = default;
    // Returns the sealed blob stored for `material_id` of the key `arn` (members of a
    // multi-Region key share material IDs, each with its own sealed copy), or kNotFound.
    virtual Result<Bytes> LoadSealed(const std::string& arn,
                                     const std::string& material_id) const = 0;
};

}  // namespace kmsd::hsm

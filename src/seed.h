// Seeding from local-kms's seed YAML (--seed FILE / KMS_SEED_PATH), so local-kms users switch
// without changes. Supported: symmetric keys (Keys.Symmetric.Aes: Metadata.KeyId, optional
// Description and KeyState Disabled, BackingKeys as 64 hex characters, oldest first, the last one
// current), asymmetric keys (Keys.Asymmetric.Rsa / .Ecc: Metadata.KeyId, KeyUsage, Description,
// PrivateKeyPem; the key spec is read from the key) and Aliases (AliasName, TargetKeyId). Keys
// and aliases that already exist are left as they are, so a restart with the same file changes
// nothing.
#pragma once

#include <string>

#include "api/context.h"
#include "common/status.h"

namespace kmsd {

struct SeedReport {
    int keys = 0;
    int aliases = 0;
};

// Reads `path` and applies it in one transaction for `account`/`region`. A missing file is not an
// error when `optional` (the image's default /init/seed.yaml).
Result<SeedReport> ApplySeedFile(const api::Services& services, const std::string& path,
                                 bool optional, const std::string& account,
                                 const std::string& region);

// The same for the file's text; `path` only names the file in messages. The document must stay
// within CheckYamlLimits (src/yaml_limits.h).
Result<SeedReport> ApplySeedText(const api::Services& services, const std::string& text,
                                 const std::string& path, const std::string& account,
                                 const std::string& region);

// The current state as a seed file of kmsd's own format (JSON, which YAML reads): every key not
// pending deletion, with its ID, account, Region, spec, usage, origin, description, policy, tags,
// aliases, state, rotation period and replica Regions. With `with_material`, each key's current
// material too (KeyMaterial with its KeyMaterialId, or PrivateKeyPem), so a fixture can be
// captured from a running server; ciphertexts made under older (rotated) material do not decrypt
// on a server seeded from it. GET /_kmsd/export.
Result<std::string> ExportSeed(const api::Services& services, bool with_material);

}  // namespace kmsd

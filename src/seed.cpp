#include "src/seed.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/ops/common.h"
#include "api/policy_format.h"
#include "api/resolve.h"
#include "hsm/blob.h"
#include "hsm/keyspec.h"
#include "src/yaml_limits.h"

namespace kmsd {
namespace {

// node[a][b], or an empty node when either is missing (yaml-cpp throws when indexing a missing
// child of a const node).
YAML::Node Child(const YAML::Node& node, const char* a, const char* b) {
    if (!node || !node.IsMap()) return YAML::Node();
    const YAML::Node first = node[a];
    if (!first || !first.IsMap()) return YAML::Node();
    return first[b];
}

Status Bad(const std::string& path, const std::string& what) {
    return Error(ErrorCode::kValidation, "seed file " + path + ": " + what);
}

}  // namespace

Result<SeedReport> ApplySeedFile(const api::Services& services, const std::string& path,
                                 bool optional, const std::string& account,
                                 const std::string& region) {
    if (!std::filesystem::exists(path)) {
        if (optional) return SeedReport{};
        return Bad(path, "no such file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return Bad(path, "cannot read it");
    // Not checked: streaming an empty file sets failbit, and an empty file seeds nothing.
    std::ostringstream text;
    text << in.rdbuf();
    return ApplySeedText(services, text.str(), path, account, region);
}

Result<SeedReport> ApplySeedText(const api::Services& services, const std::string& text,
                                 const std::string& path, const std::string& account,
                                 const std::string& region) {
    SeedReport report;
    YAML::Node doc;
    try {
        doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        return Bad(path, std::string("not valid YAML: ") + e.what());
    }
    // The loops below walk aliases again wherever they are used: bound the work first.
    if (Status st = CheckYamlLimits(doc); !st.ok()) return Bad(path, st.message());
    storage::Change change;
    const double now = api::ops::Timestamp(services.clock.Now());
    try {
        const YAML::Node keys = doc["Keys"];
        // The fields every seeded key has; null when the key exists already (seeded before).
        auto new_key = [&](const YAML::Node& entry) -> Result<std::shared_ptr<storage::KeyRecord>> {
            const std::string id = entry["Metadata"]["KeyId"].as<std::string>("");
            if (!api::IsKeyIdForm(id)) return Bad(path, "KeyId '" + id + "' is not a key ID");
            if (services.catalog.FindKey({account, region, id}))
                return std::shared_ptr<storage::KeyRecord>();
            auto key = std::make_shared<storage::KeyRecord>();
            key->account = account;
            key->region = region;
            key->key_id = id;
            key->arn = api::KeyArn(region, account, id);
            key->creation_date = now;
            key->description = entry["Metadata"]["Description"].as<std::string>("");
            if (entry["Metadata"]["KeyState"].as<std::string>("Enabled") == "Disabled")
                key->state = storage::KeyState::kDisabled;
            key->policy = api::DefaultKeyPolicy(api::Partition(region), account);
            return key;
        };
        const YAML::Node aes = Child(keys, "Symmetric", "Aes");
        for (const auto& entry : aes) {
            KMSD_ASSIGN_OR_RETURN(auto key, new_key(entry));
            if (!key) continue;
            const std::string& id = key->key_id;
            const YAML::Node backing = entry["BackingKeys"];
            if (!backing || !backing.IsSequence() || backing.size() == 0)
                return Bad(path, "key " + id + " has no BackingKeys");
            for (std::size_t i = 0; i < backing.size(); ++i) {
                std::string hex = backing[i].as<std::string>();
                auto material = hsm::FromHex(hex);
                SecureWipe(hex.data(), hex.size());
                if (!material.ok() || material->size() != 32)
                    return Bad(path, "key " + id + ": a backing key must be 64 hex characters");
                SecureBytes secret(material->begin(), material->end());
                SecureWipe(material->data(), material->size());
                KMSD_ASSIGN_OR_RETURN(hsm::SealedMaterial sealed,
                                      services.hsm.ImportKey(key->arn, key->key_spec, secret));
                // Later backing keys are rotations of the first, as in local-kms.
                const std::string type = i == 0 ? "" : "AUTOMATIC";
                key->materials.push_back({sealed.material_id, now, type});
                change.put_materials.push_back(
                    {key->scoped(), sealed.material_id, now, std::move(sealed.sealed), type});
            }
            change.put_keys.push_back(std::move(key));
            ++report.keys;
        }
        // Keys.Asymmetric.Rsa and .Ecc: a PEM private key each (PKCS#8, or PKCS#1/SEC1), its
        // spec read from the key, KeyUsage SIGN_VERIFY unless given.
        for (const char* family : {"Rsa", "Ecc"}) {
            const YAML::Node list = Child(keys, "Asymmetric", family);
            for (const auto& entry : list) {
                KMSD_ASSIGN_OR_RETURN(auto key, new_key(entry));
                if (!key) continue;
                const std::string& id = key->key_id;
                std::string pem = entry["PrivateKeyPem"].as<std::string>("");
                auto imported = services.hsm.ImportPrivateKeyPem(key->arn, pem);
                SecureWipe(pem.data(), pem.size());
                if (!imported.ok())
                    return Bad(path, "key " + id + ": " + imported.status().message());
                key->key_spec = imported->key_spec;
                const bool rsa = key->key_spec.rfind("RSA_", 0) == 0;
                if (rsa != (std::string_view(family) == "Rsa"))
                    return Bad(path, "key " + id + ": a " + key->key_spec +
                                         " key under Keys.Asymmetric." + family);
                key->key_usage = entry["Metadata"]["KeyUsage"].as<std::string>("SIGN_VERIFY");
                const hsm::KeySpecInfo* spec = hsm::FindKeySpec(key->key_spec);
                if (spec == nullptr || !hsm::AllowsUsage(*spec, key->key_usage))
                    return Bad(path, "key " + id + ": KeyUsage " + key->key_usage +
                                         " is not compatible with KeySpec " + key->key_spec);
                if (spec->family == hsm::KeyFamily::kSm2 && region.rfind("cn-", 0) != 0)
                    return Bad(path, "key " + id + ": SM2 keys exist only in the China Regions");
                hsm::SealedMaterial& sealed = imported->sealed;
                key->materials.push_back({sealed.material_id, now, ""});
                change.put_materials.push_back(
                    {key->scoped(), sealed.material_id, now, std::move(sealed.sealed), ""});
                change.put_keys.push_back(std::move(key));
                ++report.keys;
            }
        }
        for (const auto& alias : doc["Aliases"]) {
            const std::string name = alias["AliasName"].as<std::string>("");
            const std::string target = alias["TargetKeyId"].as<std::string>("");
            if (name.rfind("alias/", 0) != 0 || name.rfind("alias/aws/", 0) == 0)
                return Bad(path,
                           "alias name '" + name + "' must start with alias/ (not alias/aws/)");
            if (services.catalog.FindAlias({account, region, name})) continue;
            const bool seeded = std::any_of(change.put_keys.begin(), change.put_keys.end(),
                                            [&](const auto& k) { return k->key_id == target; });
            if (!seeded && !services.catalog.FindKey({account, region, target}))
                return Bad(path, "alias " + name + " targets unknown key '" + target + "'");
            auto rec = std::make_shared<storage::AliasRecord>();
            *rec = {account, region, name, target, now, now};
            change.put_aliases.push_back(std::move(rec));
            ++report.aliases;
        }
    } catch (const YAML::Exception& e) {
        return Bad(path, std::string("unexpected shape: ") + e.what());
    }
    KMSD_RETURN_IF_ERROR(services.catalog.Apply(change));
    return report;
}

}  // namespace kmsd

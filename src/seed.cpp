#include "src/seed.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "api/key_stores.h"
#include "api/lifecycle.h"
#include "api/ops/common.h"
#include "api/policy_format.h"
#include "api/resolve.h"
#include "hsm/blob.h"
#include "hsm/crypto.h"
#include "hsm/keyspec.h"
#include "src/auth/sigv4.h"
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

bool IsAccountId(const std::string& s) {
    return s.size() == 12 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An alias name CreateAlias would accept for a customer key.
bool IsCustomerAliasName(const std::string& name) {
    if (name.rfind("alias/", 0) != 0 || name.rfind("alias/aws/", 0) == 0 || name.size() <= 6 ||
        name.size() > 256)
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '/' || c == '_' ||
               c == '-';
    });
}

// A YAML scalar, map or list as JSON (a Policy written as YAML), members in the file's order.
// The recursion is bounded: CheckYamlLimits has limited the document to 32 levels.
nlohmann::ordered_json ToJson(const YAML::Node& node) {
    if (node.IsMap()) {
        nlohmann::ordered_json out = nlohmann::ordered_json::object();
        for (const auto& kv : node) out[kv.first.as<std::string>()] = ToJson(kv.second);
        return out;
    }
    if (node.IsSequence()) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& v : node) out.push_back(ToJson(v));
        return out;
    }
    return nlohmann::ordered_json(node.as<std::string>(""));
}

// A new key's identity in its account and Region, created at `now`, as both seed formats make it.
std::shared_ptr<storage::KeyRecord> NewSeededKey(const std::string& account,
                                                 const std::string& region, const std::string& id,
                                                 double now) {
    auto key = std::make_shared<storage::KeyRecord>();
    key->account = account;
    key->region = region;
    key->key_id = id;
    key->arn = api::KeyArn(region, account, id);
    key->creation_date = now;
    return key;
}

// kmsd's own seed format: `Keys:` is a list of entries in CreateKey's member names (src/seed.h).
class KmsdSeed {
public:
    KmsdSeed(const api::Services& services, const std::string& path, const std::string& account,
             const std::string& region, double now, storage::Change& change, SeedReport& report)
        : services_(services),
          path_(path),
          account_(account),
          region_(region),
          now_(now),
          change_(change),
          report_(report) {}

    Status Apply(const YAML::Node& keys) {
        for (std::size_t i = 0; i < keys.size(); ++i) KMSD_RETURN_IF_ERROR(Entry(keys[i], i));
        return Status::Ok();
    }

private:
    Status Entry(const YAML::Node& e, std::size_t index) {
        const std::string id = e["KeyId"].as<std::string>("");
        where_ = "Keys[" + std::to_string(index) + "] (KeyId " + id + ")";
        if (!e.IsMap()) return Field("", "an entry must be a map of CreateKey's members");
        if (!api::IsKeyIdForm(id))
            return Field("KeyId", "a UUID or mrk- followed by 32 hex digits");
        const std::string account = e["Account"].as<std::string>(account_);
        const std::string region = e["Region"].as<std::string>(region_);
        if (!IsAccountId(account)) return Field("Account", "12 digits");
        if (!auth::IsRegionName(region)) return Field("Region", "not a Region name");
        const bool multi_region = id.rfind("mrk-", 0) == 0;
        if (e["MultiRegion"] && e["MultiRegion"].as<bool>(false) != multi_region)
            return Field("MultiRegion", "multi-Region keys, and only they, have mrk- key IDs");
        if (e["ReplicaRegions"] && !multi_region)
            return Field("ReplicaRegions", "only a multi-Region key (mrk- key ID) has replicas");
        const storage::ScopedName name{account, region, id};
        if (auto [it, fresh] = seen_.emplace(name, where_); !fresh)
            return Field("KeyId", "the same key as " + it->second);
        if (services_.catalog.FindKey(name)) return Status::Ok();  // seeded before

        auto key = NewSeededKey(account, region, id, now_);
        key->description = e["Description"].as<std::string>("");
        key->origin = e["Origin"].as<std::string>("AWS_KMS");
        if (key->origin != "AWS_KMS" && key->origin != "EXTERNAL")
            return Field("Origin", "AWS_KMS or EXTERNAL");
        KMSD_RETURN_IF_ERROR(Material(e, *key));
        if (!e["Enabled"].as<bool>(true) && key->state == storage::KeyState::kEnabled)
            key->state = storage::KeyState::kDisabled;
        KMSD_RETURN_IF_ERROR(Policy(e, *key));
        if (const YAML::Node tags = e["Tags"]) {
            api::Json list = api::Json::array();
            if (tags.IsMap())
                for (const auto& kv : tags)
                    list.push_back({{"TagKey", api::Str(kv.first.as<std::string>())},
                                    {"TagValue", api::Str(kv.second.as<std::string>(""))}});
            else
                for (const auto& t : tags)
                    list.push_back({{"TagKey", api::Str(t["TagKey"].as<std::string>(""))},
                                    {"TagValue", api::Str(t["TagValue"].as<std::string>(""))}});
            if (Status st = api::ops::MergeTags(key->tags, list); !st.ok())
                return Field("Tags", st.message());
        }
        if (const YAML::Node days = e["RotationPeriodInDays"]) {
            const int n = days.as<int>(0);
            if (key->key_spec != "SYMMETRIC_DEFAULT" || key->origin != "AWS_KMS")
                return Field("RotationPeriodInDays", "only symmetric AWS_KMS keys rotate");
            if (n < 90 || n > 2560) return Field("RotationPeriodInDays", "90 to 2560 days");
            key->rotation_enabled = true;
            key->rotation_period_days = n;
            key->next_rotation_date = api::ops::Timestamp(now_ + n * api::kSecondsPerDay);
        }
        key->multi_region = multi_region;
        if (multi_region) key->primary_region = region;
        KMSD_RETURN_IF_ERROR(Aliases(e, *key));
        std::vector<std::shared_ptr<storage::KeyRecord>> replicas;
        for (const auto& r : e["ReplicaRegions"]) {
            KMSD_ASSIGN_OR_RETURN(auto replica, Replica(*key, r.as<std::string>("")));
            KMSD_RETURN_IF_ERROR(Aliases(e, *replica));
            replicas.push_back(std::move(replica));
        }
        KMSD_RETURN_IF_ERROR(Grants(e, *key));
        change_.put_keys.push_back(std::move(key));
        for (auto& replica : replicas) change_.put_keys.push_back(std::move(replica));
        report_.keys += static_cast<int>(1 + replicas.size());
        return Status::Ok();
    }

    // The entry's grants on the key, in CreateGrant's member names. A seeded grant's ID is fixed
    // too (a hash of the key ARN and the grant's place in the list).
    Status Grants(const YAML::Node& e, const storage::KeyRecord& key) {
        const YAML::Node grants = e["Grants"];
        if (!grants) return Status::Ok();
        if (!grants.IsSequence()) return Field("Grants", "a list of grants");
        const std::string issuer =
            "arn:" + api::Partition(key.region) + ":iam::" + key.account + ":root";
        for (std::size_t i = 0; i < grants.size(); ++i) {
            const std::string field = "Grants[" + std::to_string(i) + "]";
            auto body = api::ParseRequestBody(ToJson(grants[i]).dump());
            if (!body.ok()) return Field(field, "a map of CreateGrant's members");
            const api::Request req(*body);
            for (const char* principal : {"GranteePrincipal", "RetiringPrincipal"}) {
                const std::string p = req.String(principal);
                if (std::string_view(principal) == "GranteePrincipal" && p.empty())
                    return Field(field, "GranteePrincipal is required");
                if (!p.empty() && services_.principal_exists && !services_.principal_exists(p))
                    return Field(field, principal + std::string(" ") + p + " is not known");
            }
            const std::string seedname = "kmsd-seed-grant-v1|" + key.arn + "|" + std::to_string(i);
            const std::string id = hsm::ToHex(hsm::Sha256(View(seedname)));
            auto grant = api::ops::NewGrant(key, req, issuer, now_, id);
            if (!grant.ok()) return Field(field, grant.status().message());
            change_.put_grants.push_back(std::move(grant.value()));
        }
        return Status::Ok();
    }

    // The entry's aliases, in the key's Region (each replica has them in its own).
    Status Aliases(const YAML::Node& e, const storage::KeyRecord& key) {
        for (const auto& alias : e["Aliases"]) {
            const std::string alias_name = alias.as<std::string>("");
            if (!IsCustomerAliasName(alias_name))
                return Field("Aliases", "'" + alias_name +
                                            "' is not an alias name (alias/..., not alias/aws/)");
            const storage::ScopedName name{key.account, key.region, alias_name};
            if (auto [it, fresh] = seen_aliases_.emplace(name, where_); !fresh)
                return Field("Aliases", "'" + alias_name + "' is " + it->second + "'s already");
            if (services_.catalog.FindAlias(name)) continue;
            auto rec = std::make_shared<storage::AliasRecord>();
            *rec = {key.account, key.region, alias_name, key.key_id, now_, now_};
            change_.put_aliases.push_back(std::move(rec));
            ++report_.aliases;
        }
        return Status::Ok();
    }

    // A replica of the multi-Region primary `primary` in `region`: the same key with the same
    // material (sealed for the replica's ARN), description, policy, tags and state; rotation is
    // the primary's.
    Result<std::shared_ptr<storage::KeyRecord>> Replica(const storage::KeyRecord& primary,
                                                        const std::string& region) {
        if (!auth::IsRegionName(region) || region == primary.region ||
            api::Partition(region) != api::Partition(primary.region))
            return Field("ReplicaRegions", "'" + region +
                                               "' is not another Region of the primary's "
                                               "partition");
        const storage::ScopedName name{primary.account, region, primary.key_id};
        if (auto [it, fresh] = seen_.emplace(name, where_ + " replica " + region); !fresh)
            return Field("ReplicaRegions", region + " has the key already (" + it->second + ")");
        if (services_.catalog.FindKey(name))
            return Field("ReplicaRegions", "the key exists in " + region + " already");
        auto replica = std::make_shared<storage::KeyRecord>(primary);
        replica->region = region;
        replica->arn = api::KeyArn(region, primary.account, primary.key_id);
        replica->rotation_enabled = false;
        replica->rotation_period_days = 0;
        replica->next_rotation_date.reset();
        replica->materials.clear();
        std::vector<storage::NewMaterial> copies;
        for (const auto& row : change_.put_materials) {
            if (row.key != primary.scoped()) continue;
            const hsm::KeyRef from{primary.arn, row.record.material_id, primary.key_spec};
            KMSD_ASSIGN_OR_RETURN(Bytes sealed,
                                  services_.hsm.ResealFor(from, row.sealed, replica->arn));
            copies.push_back({replica->scoped(), row.record, std::move(sealed)});
        }
        for (auto& c : copies)
            storage::AddMaterial(change_, *replica, c.record, std::move(c.sealed));
        return replica;
    }

    // KeySpec, KeyUsage and the material: KeyMaterial (base64, symmetric or HMAC),
    // PrivateKeyPem (asymmetric; the spec read from the key), or generated.
    Status Material(const YAML::Node& e, storage::KeyRecord& key) {
        std::string pem = e["PrivateKeyPem"].as<std::string>("");
        std::string b64 = e["KeyMaterial"].as<std::string>("");
        if (!pem.empty() && !b64.empty())
            return Field("KeyMaterial", "give KeyMaterial or PrivateKeyPem, not both");
        std::optional<hsm::Hsm::ImportedKey> from_pem;
        if (!pem.empty()) {
            auto parsed = services_.hsm.ImportPrivateKeyPem(key.arn, pem, key.key_id);
            SecureWipe(pem.data(), pem.size());
            if (!parsed.ok()) return Field("PrivateKeyPem", parsed.status().message());
            from_pem = std::move(parsed.value());
        }
        key.key_spec =
            e["KeySpec"].as<std::string>(from_pem ? from_pem->key_spec : "SYMMETRIC_DEFAULT");
        if (from_pem && from_pem->key_spec != key.key_spec)
            return Field("PrivateKeyPem", "a " + from_pem->key_spec + " key, not " + key.key_spec);
        std::optional<std::string> usage;
        if (e["KeyUsage"]) usage = e["KeyUsage"].as<std::string>("");
        std::string key_usage;
        if (Status st = api::ops::CheckKeySpecUsage(key.key_spec, usage, key.region, key_usage);
            !st.ok())
            return Field(usage ? "KeyUsage" : "KeySpec", st.message());
        key.key_usage = std::move(key_usage);
        const hsm::KeySpecInfo& spec = *hsm::FindKeySpec(key.key_spec);
        Result<hsm::SealedMaterial> sealed = Error(ErrorCode::kInternal);
        if (from_pem) {
            sealed = std::move(from_pem->sealed);
        } else if (!b64.empty()) {
            if (hsm::IsAsymmetric(spec))
                return Field("KeyMaterial", "asymmetric keys take PrivateKeyPem");
            auto bytes = Base64Decode(b64);
            SecureWipe(b64.data(), b64.size());
            if (!bytes) return Field("KeyMaterial", "not base64");
            const std::string material_id = e["KeyMaterialId"].as<std::string>("");
            sealed =
                material_id.empty()
                    ? services_.hsm.ImportKey(key.arn, key.key_spec, *bytes, key.key_id)
                    : services_.hsm.ImportKeyWithId(key.arn, key.key_spec, *bytes, material_id);
            if (!sealed.ok()) return Field("KeyMaterial", sealed.status().message());
        } else if (key.origin == "EXTERNAL") {
            key.state = storage::KeyState::kPendingImport;  // waits for ImportKeyMaterial
            return Status::Ok();
        } else {
            sealed = services_.hsm.GenerateKey(key.arn, key.key_spec);
            KMSD_RETURN_IF_ERROR(sealed.status());
        }
        storage::MaterialRecord record{sealed->material_id, now_, ""};
        if (key.origin == "EXTERNAL") {
            record.import_state = "IMPORTED";
            record.expiration_model = "KEY_MATERIAL_DOES_NOT_EXPIRE";
        }
        storage::AddMaterial(change_, key, std::move(record), std::move(sealed->sealed));
        return Status::Ok();
    }

    Status Policy(const YAML::Node& e, storage::KeyRecord& key) {
        const YAML::Node policy = e["Policy"];
        if (!policy) {
            key.policy = api::DefaultKeyPolicy(api::Partition(key.region), key.account);
            return Status::Ok();
        }
        key.policy = policy.IsScalar() ? policy.as<std::string>() : ToJson(policy).dump();
        if (Status st = api::CheckKeyPolicy(key.policy, services_.principal_exists); !st.ok())
            return Field("Policy", st.message());
        return Status::Ok();
    }

    Status Field(const std::string& field, const std::string& what) const {
        return Bad(path_, where_ + (field.empty() ? "" : " " + field) + ": " + what);
    }

    const api::Services& services_;
    const std::string& path_;
    const std::string& account_;
    const std::string& region_;
    const double now_;
    storage::Change& change_;
    SeedReport& report_;
    std::string where_;
    std::map<storage::ScopedName, std::string> seen_;          // keys, by where they are declared
    std::map<storage::ScopedName, std::string> seen_aliases_;  // aliases, the same
};

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
        // Simulated CloudHSM clusters, for custom key stores (api/key_stores.h).
        if (const YAML::Node clusters = doc["CloudHsmClusters"]) {
            if (!clusters.IsSequence())
                return Bad(path, "CloudHsmClusters must be a list of clusters");
            for (const auto& entry : clusters) {
                // Bytes that are not UTF-8 become U+FFFD (a YAML file may hold any bytes); the
                // declaration's checks then refuse what they make invalid.
                const std::string declared_text = ToJson(entry).dump(
                    -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
                auto declared = api::DeclareCluster(services, nlohmann::json::parse(declared_text),
                                                    account, region);
                if (!declared.ok()) return Bad(path, declared.status().message());
            }
        }
        const YAML::Node keys = doc["Keys"];
        if (keys && keys.IsSequence()) {
            KMSD_RETURN_IF_ERROR(
                KmsdSeed(services, path, account, region, now, change, report).Apply(keys));
            KMSD_RETURN_IF_ERROR(services.catalog.Apply(change));
            return report;
        }
        // The fields every seeded key has; null when the key exists already (seeded before).
        auto new_key = [&](const YAML::Node& entry) -> Result<std::shared_ptr<storage::KeyRecord>> {
            const std::string id = entry["Metadata"]["KeyId"].as<std::string>("");
            if (!api::IsKeyIdForm(id)) return Bad(path, "KeyId '" + id + "' is not a key ID");
            if (services.catalog.FindKey({account, region, id}))
                return std::shared_ptr<storage::KeyRecord>();
            auto key = NewSeededKey(account, region, id, now);
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
                storage::AddMaterial(change, *key, {sealed.material_id, now, type},
                                     std::move(sealed.sealed));
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
                const bool rsa = key->key_spec.str().rfind("RSA_", 0) == 0;
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
                storage::AddMaterial(change, *key, {sealed.material_id, now, ""},
                                     std::move(sealed.sealed));
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

namespace {

std::string Pem(ByteView der) {
    const std::string b64 = Base64Encode(der);
    std::string out = "-----BEGIN PRIVATE KEY-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
    return out + "-----END PRIVATE KEY-----\n";
}

}  // namespace

Result<std::string> ExportSeed(const api::Services& services, bool with_material) {
    nlohmann::ordered_json keys = nlohmann::ordered_json::array();
    for (const auto& key : services.catalog.AllKeys()) {
        // Replicas are written with their primary (ReplicaRegions); keys on their way out are
        // left out.
        if (key->pending_deletion() || key->is_replica()) continue;
        // AWS managed keys are AWS's (a seed declares customer keys): a server seeded from this
        // makes them again on first use.
        if (key->aws_managed) continue;
        // Keys in custom key stores belong to their store (a CloudHSM cluster, an external
        // proxy), which a seed file cannot declare: a key made from this would be another key.
        if (!key->custom_key_store_id.empty()) continue;
        nlohmann::ordered_json e = nlohmann::ordered_json::object();
        e["KeyId"] = key->key_id;
        e["Account"] = key->account;
        e["Region"] = key->region;
        e["KeySpec"] = key->key_spec;
        e["KeyUsage"] = key->key_usage;
        e["Origin"] = key->origin;
        e["Description"] = key->description;
        e["Enabled"] = key->state != storage::KeyState::kDisabled;
        e["Policy"] = key->policy.str();
        nlohmann::ordered_json tags = nlohmann::ordered_json::array();
        for (const auto& [k, v] : key->tags) tags.push_back({{"TagKey", k}, {"TagValue", v}});
        if (!tags.empty()) e["Tags"] = std::move(tags);
        nlohmann::ordered_json aliases = nlohmann::ordered_json::array();
        for (const auto& a : services.catalog.AliasesOf(key->scoped()))
            aliases.push_back(a->alias_name);
        if (!aliases.empty()) e["Aliases"] = std::move(aliases);
        if (key->rotation_enabled) e["RotationPeriodInDays"] = key->rotation_period_days;
        if (key->multi_region) {
            e["MultiRegion"] = true;
            nlohmann::ordered_json regions = nlohmann::ordered_json::array();
            for (const auto& m : services.catalog.MultiRegionMembers(key->account, key->key_id))
                if (m->region != key->region) regions.push_back(m->region);
            if (!regions.empty()) e["ReplicaRegions"] = std::move(regions);
        }
        const storage::MaterialRecord* current = key->current_material();
        const bool usable =
            current != nullptr && (key->origin != "EXTERNAL" || current->imported());
        if (with_material && usable) {
            KMSD_ASSIGN_OR_RETURN(
                SecureBytes material,
                services.hsm.ExportMaterial({key->arn, current->material_id, key->key_spec}));
            const hsm::KeySpecInfo* spec = hsm::FindKeySpec(key->key_spec);
            if (spec != nullptr && hsm::IsAsymmetric(*spec))
                e["PrivateKeyPem"] = Pem(material);
            else
                e["KeyMaterial"] = Base64Encode(material);
            // The ID its ciphertexts name, so a server seeded from this decrypts them.
            if (key->key_spec == "SYMMETRIC_DEFAULT") e["KeyMaterialId"] = current->material_id;
        }
        keys.push_back(std::move(e));
    }
    nlohmann::ordered_json doc = nlohmann::ordered_json::object();
    doc["Keys"] = std::move(keys);
    return doc.dump(2);
}

}  // namespace kmsd

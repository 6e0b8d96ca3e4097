// Custom key stores: CreateCustomKeyStore, DescribeCustomKeyStores, UpdateCustomKeyStore,
// ConnectCustomKeyStore, DisconnectCustomKeyStore, DeleteCustomKeyStore (AWS_CLOUDHSM; the
// clusters are simulated: api/key_stores.h). IAM-only operations: no key policy is involved.
// AWS does not document the messages of these exceptions; kmsd's say what is wrong and name the
// store or cluster (README: Custom key stores).
#include "api/key_stores.h"

#include <algorithm>

#include "api/ops/common.h"
#include "common/base64.h"
#include "hsm/crypto.h"

namespace kmsd::api::ops {
namespace {

constexpr std::size_t kMaxStoresPerRegion = 10;  // CloudHSM and external together

Status StoreNotFound(const std::string& id) {
    return Error(ErrorCode::kCustomKeyStoreNotFound, "Custom key store " + id + " does not exist.");
}

Status InvalidState(const storage::CustomKeyStoreRecord& store, const std::string& what) {
    return Error(
        ErrorCode::kCustomKeyStoreInvalidState,
        "Custom key store " + store.store_id + " is " + store.connection_state + ". " + what);
}

Status NameInUse(const std::string& name) {
    return Error(ErrorCode::kCustomKeyStoreNameInUse,
                 "The custom key store name " + name + " is already in use in this account.");
}

bool NameTaken(const OpContext& ctx, const std::string& name, const std::string& except_id) {
    for (const auto& s : ctx.services.catalog.ListStores(ctx.caller.account, ctx.caller.region))
        if (s->name == name && s->store_id != except_id) return true;
    return false;
}

// The cluster `id` as CreateCustomKeyStore, UpdateCustomKeyStore and CreateKey need it: there,
// ACTIVE, with two HSMs (AWS: in different Availability Zones).
Result<storage::ClusterPtr> UsableCluster(const OpContext& ctx, const std::string& id) {
    auto cluster = ctx.services.catalog.FindCluster({ctx.caller.account, ctx.caller.region, id});
    if (!cluster || cluster->state == "DELETED")
        return Error(ErrorCode::kCloudHsmClusterNotFound,
                     "AWS CloudHSM cluster " + id + " not found.");
    if (cluster->state != "ACTIVE")
        return Error(ErrorCode::kCloudHsmClusterNotActive,
                     "AWS CloudHSM cluster " + id + " is " + cluster->state + ", not ACTIVE.");
    if (cluster->hsm_count < 2)
        return Error(ErrorCode::kCloudHsmClusterInvalidConfiguration,
                     "AWS CloudHSM cluster " + id +
                         " must contain active HSMs in at least two Availability Zones.");
    return cluster;
}

// PEM texts compared without their line breaks and spaces (a certificate pasted from a file may
// have CRLF or a trailing newline).
std::string Compact(const std::string& pem) {
    std::string out;
    for (char c : pem)
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') out.push_back(c);
    return out;
}

Json StoreEntry(const storage::CustomKeyStoreRecord& s) {
    Json e = Json::object();
    if (s.type == "AWS_CLOUDHSM") e["CloudHsmClusterId"] = Str(s.cluster_id);
    if (!s.connection_error_code.empty()) e["ConnectionErrorCode"] = Str(s.connection_error_code);
    e["ConnectionState"] = Str(s.connection_state);
    e["CreationDate"] = s.creation_date;
    e["CustomKeyStoreId"] = Str(s.store_id);
    e["CustomKeyStoreName"] = Str(s.name);
    e["CustomKeyStoreType"] = Str(s.type);
    if (s.type == "AWS_CLOUDHSM") e["TrustAnchorCertificate"] = Str(s.trust_anchor);
    if (s.type == "EXTERNAL_KEY_STORE") {
        const XksConfig c = ParseXksConfig(s.config);
        Json x = Json::object();
        x["AccessKeyId"] = Str(c.access_key_id);
        x["Connectivity"] = Str(c.connectivity);
        x["UriEndpoint"] = Str(c.uri_endpoint);
        x["UriPath"] = Str(c.uri_path);
        if (!c.vpc_service_name.empty()) x["VpcEndpointServiceName"] = Str(c.vpc_service_name);
        if (!c.vpc_service_owner.empty()) x["VpcEndpointServiceOwner"] = Str(c.vpc_service_owner);
        e["XksProxyConfiguration"] = std::move(x);
    }
    return e;
}

// The external key store members, on a CloudHSM store's request.
Status RejectXksMembers(const Request& req) {
    for (const char* xks : {"XksProxyUriEndpoint", "XksProxyUriPath",
                            "XksProxyVpcEndpointServiceName", "XksProxyVpcEndpointServiceOwner",
                            "XksProxyAuthenticationCredential", "XksProxyConnectivity"})
        if (req.Has(xks))
            return Error(
                ErrorCode::kValidation,
                std::string(xks) + " is valid only for an EXTERNAL_KEY_STORE custom key store.");
    return Status::Ok();
}

// The CloudHSM members, on an external key store's request.
Status RejectCloudHsmMembers(const Request& req) {
    for (const char* member : {"CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword"})
        if (req.Has(member))
            return Error(
                ErrorCode::kValidation,
                std::string(member) + " is valid only for an AWS_CLOUDHSM custom key store.");
    return Status::Ok();
}

std::string NewStoreId() { return "cks-" + hsm::RandomHex(9).substr(0, 17); }

// The external key store settings a request gives, over `base` (Create: empty; Update: the
// store's): connectivity, endpoint and path, the VPC endpoint service, the credential (its
// secret sealed for `store_id`).
Result<XksConfig> XksSettings(const OpContext& ctx, const Request& req, XksConfig base,
                              const std::string& store_id) {
    if (auto v = req.OptString("XksProxyConnectivity")) base.connectivity = *v;
    if (auto v = req.OptString("XksProxyUriEndpoint")) base.uri_endpoint = *v;
    if (auto v = req.OptString("XksProxyUriPath")) base.uri_path = *v;
    if (auto v = req.OptString("XksProxyVpcEndpointServiceName")) base.vpc_service_name = *v;
    if (auto v = req.OptString("XksProxyVpcEndpointServiceOwner")) base.vpc_service_owner = *v;
    if (req.Has("XksProxyAuthenticationCredential")) {
        const Request cred(req.At("XksProxyAuthenticationCredential"));
        if (!cred.Has("AccessKeyId") || !cred.Has("RawSecretAccessKey"))
            return Error(ErrorCode::kValidation,
                         "XksProxyAuthenticationCredential requires both AccessKeyId and "
                         "RawSecretAccessKey.");
        base.access_key_id = cred.String("AccessKeyId");
        const std::string_view secret = cred.StringView("RawSecretAccessKey", "");
        KMSD_ASSIGN_OR_RETURN(
            Bytes sealed,
            ctx.services.hsm.SealSecret(
                store_id,
                ByteView(reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size())));
        base.sealed_secret = Base64Encode(sealed);
    }
    // The model's pattern lets an IPv4 address through; the specification wants a host name
    // (the proxy's certificate names it).
    if (const std::string host = base.uri_endpoint.substr(
            std::min<std::size_t>(base.uri_endpoint.size(), std::string_view("https://").size()));
        !host.empty() && std::all_of(host.begin(), host.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
        return Error(ErrorCode::kValidation,
                     "XksProxyUriEndpoint must name the proxy by its DNS name, not an IP "
                     "address.");
    const bool vpc = base.connectivity == "VPC_ENDPOINT_SERVICE";
    if (vpc && base.vpc_service_name.empty())
        return Error(ErrorCode::kValidation,
                     "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is "
                     "VPC_ENDPOINT_SERVICE.");
    if (!vpc &&
        (req.Has("XksProxyVpcEndpointServiceName") || req.Has("XksProxyVpcEndpointServiceOwner")))
        return Error(ErrorCode::kValidation,
                     "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are "
                     "valid only when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.");
    if (!vpc) {
        base.vpc_service_name.clear();
        base.vpc_service_owner.clear();
    } else if (base.vpc_service_owner.empty()) {
        base.vpc_service_owner = ctx.caller.account;
    }
    return base;
}

// AWS's uniqueness rules for proxy URIs and VPC endpoint services, against every other store.
Status CheckXksUnique(const OpContext& ctx, const XksConfig& c, const std::string& except_id) {
    for (const auto& s : ctx.services.catalog.ListStores(ctx.caller.account, ctx.caller.region)) {
        if (s->type != "EXTERNAL_KEY_STORE" || s->store_id == except_id) continue;
        const XksConfig other = ParseXksConfig(s->config);
        if (other.uri_endpoint == c.uri_endpoint && other.uri_path == c.uri_path)
            return Error(ErrorCode::kXksProxyUriInUse,
                         "The combination of XksProxyUriEndpoint " + c.uri_endpoint +
                             " and XksProxyUriPath " + c.uri_path +
                             " is already used by custom key store " + s->store_id + ".");
        const bool either_vpc = other.connectivity == "VPC_ENDPOINT_SERVICE" ||
                                c.connectivity == "VPC_ENDPOINT_SERVICE";
        if (either_vpc && other.uri_endpoint == c.uri_endpoint)
            return Error(ErrorCode::kXksProxyUriEndpointInUse,
                         "XksProxyUriEndpoint " + c.uri_endpoint +
                             " is already used by custom key store " + s->store_id +
                             " with VPC endpoint service connectivity.");
        if (!c.vpc_service_name.empty() && other.vpc_service_name == c.vpc_service_name)
            return Error(ErrorCode::kXksProxyVpcEndpointServiceInUse,
                         "VPC endpoint service " + c.vpc_service_name +
                             " is already used by custom key store " + s->store_id + ".");
    }
    return Status::Ok();
}

// CreateCustomKeyStore and UpdateCustomKeyStore reach a public endpoint's proxy before
// anything is stored, as AWS does; a VPC endpoint service's proxy is reached only through a
// connected store (a new one waits for Connect).
Status CheckNewXksSettings(const OpContext& ctx, const storage::CustomKeyStoreRecord& store,
                           const XksConfig& config) {
    if (config.connectivity != "PUBLIC_ENDPOINT" && !store.connected()) return Status::Ok();
    KMSD_ASSIGN_OR_RETURN(xks::Endpoint endpoint, ProxyEndpoint(ctx.services, store, config));
    return xks::ToKmsError(CheckProxyHealth(ctx.services, endpoint, ctx.operation, ctx.request_id),
                           xks::Context::kKeyStore);
}

Result<Json> CreateExternalKeyStore(OpContext& ctx, const Request& req) {
    KMSD_RETURN_IF_ERROR(RejectCloudHsmMembers(req));
    for (const char* needed : {"XksProxyConnectivity", "XksProxyUriEndpoint", "XksProxyUriPath",
                               "XksProxyAuthenticationCredential"})
        if (!req.Has(needed))
            return Error(
                ErrorCode::kValidation,
                std::string(needed) + " is required for an EXTERNAL_KEY_STORE custom key store.");
    const std::string name = req.String("CustomKeyStoreName");
    auto store = std::make_shared<storage::CustomKeyStoreRecord>();
    store->store_id = NewStoreId();
    store->account = ctx.caller.account;
    store->region = ctx.caller.region;
    store->name = name;
    store->type = "EXTERNAL_KEY_STORE";
    KMSD_ASSIGN_OR_RETURN(XksConfig config, XksSettings(ctx, req, {}, store->store_id));
    store->config = XksConfigJson(config);
    // The checks that need no proxy first, so a request that cannot succeed does not wait for
    // one; then again inside the write, for stores made meanwhile.
    const auto check = [&]() -> Status {
        const auto stores = ctx.services.catalog.ListStores(ctx.caller.account, ctx.caller.region);
        if (stores.size() >= kMaxStoresPerRegion)
            return Error(ErrorCode::kLimitExceeded,
                         "You have reached the limit of 10 custom key stores in this account and "
                         "Region.");
        if (NameTaken(ctx, name, "")) return NameInUse(name);
        return CheckXksUnique(ctx, config, "");
    };
    KMSD_RETURN_IF_ERROR(check());
    KMSD_RETURN_IF_ERROR(CheckNewXksSettings(ctx, *store, config));
    store->creation_date = Timestamp(ctx.Now());
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_RETURN_IF_ERROR(check());
        storage::Change change;
        change.put_stores.push_back(store);
        return change;
    }));
    Json out = Json::object();
    out["CustomKeyStoreId"] = Str(store->store_id);
    return out;
}

// UpdateCustomKeyStore of an external key store: the name, credential and path at any time;
// endpoint, connectivity and VPC endpoint service only while DISCONNECTED. New proxy settings
// are checked against the proxy (public endpoint) before they are kept.
Result<Json> UpdateExternalKeyStore(OpContext& ctx, const Request& req,
                                    const storage::StorePtr& current) {
    KMSD_RETURN_IF_ERROR(RejectCloudHsmMembers(req));
    const std::string& id = current->store_id;
    // Checked here and again inside the write (a Connect may come in between).
    const auto only_disconnected = [&](const storage::CustomKeyStoreRecord& store) -> Status {
        for (const char* member :
             {"XksProxyUriEndpoint", "XksProxyConnectivity", "XksProxyVpcEndpointServiceName",
              "XksProxyVpcEndpointServiceOwner"})
            if (req.Has(member) && store.connection_state != "DISCONNECTED")
                return InvalidState(
                    store, std::string(member) + " can be changed only while it is DISCONNECTED.");
        return Status::Ok();
    };
    KMSD_RETURN_IF_ERROR(only_disconnected(*current));
    const XksConfig before = ParseXksConfig(current->config);
    if (auto connectivity = req.OptString("XksProxyConnectivity");
        connectivity && *connectivity != before.connectivity &&
        req.String("XksProxyUriEndpoint", before.uri_endpoint) == before.uri_endpoint)
        return Error(ErrorCode::kValidation,
                     "A new XksProxyConnectivity requires a new XksProxyUriEndpoint.");
    KMSD_ASSIGN_OR_RETURN(XksConfig config, XksSettings(ctx, req, before, id));
    const bool proxy_changed =
        config.connectivity != before.connectivity || config.uri_endpoint != before.uri_endpoint ||
        config.uri_path != before.uri_path || config.access_key_id != before.access_key_id ||
        req.Has("XksProxyAuthenticationCredential") ||
        config.vpc_service_name != before.vpc_service_name;
    if (proxy_changed) {
        KMSD_RETURN_IF_ERROR(CheckXksUnique(ctx, config, id));
        KMSD_RETURN_IF_ERROR(CheckNewXksSettings(ctx, *current, config));
    }
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
        auto next = std::make_shared<storage::CustomKeyStoreRecord>(*store);
        if (auto name = req.OptString("NewCustomKeyStoreName")) {
            if (NameTaken(ctx, *name, id)) return NameInUse(*name);
            next->name = *name;
        }
        KMSD_RETURN_IF_ERROR(only_disconnected(*store));
        if (proxy_changed) {
            if (store->config != current->config)
                return Error(ErrorCode::kConflict,
                             "Custom key store " + id + " was changed by another request.");
            KMSD_RETURN_IF_ERROR(CheckXksUnique(ctx, config, id));
            next->config = XksConfigJson(config);
        }
        storage::Change change;
        change.put_stores.push_back(std::move(next));
        return change;
    }));
    return Json::object();
}

}  // namespace

Result<Json> CreateCustomKeyStore(OpContext& ctx, const Request& req) {
    const std::string type = req.String("CustomKeyStoreType", "AWS_CLOUDHSM");
    if (type == "EXTERNAL_KEY_STORE") return CreateExternalKeyStore(ctx, req);
    KMSD_RETURN_IF_ERROR(RejectXksMembers(req));
    for (const char* needed : {"CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword"})
        if (!req.Has(needed))
            return Error(
                ErrorCode::kValidation,
                std::string(needed) + " is required for an AWS_CLOUDHSM custom key store.");
    const std::string name = req.String("CustomKeyStoreName");
    const std::string cluster_id = req.String("CloudHsmClusterId");
    const std::string trust_anchor = req.String("TrustAnchorCertificate");
    const std::string digest = PasswordDigest(req.String("KeyStorePassword"));
    std::string created;
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        storage::Change change;
        const auto stores = ctx.services.catalog.ListStores(ctx.caller.account, ctx.caller.region);
        // AWS: the same request again, for a store still disconnected, answers that store.
        for (const auto& s : stores)
            if (s->name == name && s->cluster_id == cluster_id && s->type == type &&
                Compact(s->trust_anchor) == Compact(trust_anchor) && s->password_digest == digest &&
                s->connection_state == "DISCONNECTED") {
                created = s->store_id;
                return change;
            }
        if (stores.size() >= kMaxStoresPerRegion)
            return Error(ErrorCode::kLimitExceeded,
                         "You have reached the limit of 10 custom key stores in this account and "
                         "Region.");
        if (NameTaken(ctx, name, "")) return NameInUse(name);
        KMSD_ASSIGN_OR_RETURN(storage::ClusterPtr cluster, UsableCluster(ctx, cluster_id));
        for (const auto& s : stores) {
            if (s->type != "AWS_CLOUDHSM") continue;
            auto other = ctx.services.catalog.FindCluster({s->account, s->region, s->cluster_id});
            if (s->cluster_id == cluster_id || (other && other->lineage == cluster->lineage))
                return Error(ErrorCode::kCloudHsmClusterInUse,
                             "AWS CloudHSM cluster " + cluster_id +
                                 " (or a cluster that shares its backup history) is already "
                                 "associated with custom key store " +
                                 s->store_id + ".");
        }
        if (Compact(cluster->trust_anchor) != Compact(trust_anchor))
            return Error(ErrorCode::kIncorrectTrustAnchor,
                         "The trust anchor certificate is not the trust anchor certificate of "
                         "AWS CloudHSM cluster " +
                             cluster_id + ".");
        auto store = std::make_shared<storage::CustomKeyStoreRecord>();
        store->store_id = NewStoreId();
        store->account = ctx.caller.account;
        store->region = ctx.caller.region;
        store->name = name;
        store->type = type;
        store->creation_date = Timestamp(ctx.Now());
        store->cluster_id = cluster_id;
        store->trust_anchor = trust_anchor;
        store->password_digest = digest;
        created = store->store_id;
        change.put_stores.push_back(std::move(store));
        return change;
    }));
    Json out = Json::object();
    out["CustomKeyStoreId"] = Str(created);
    return out;
}

Result<Json> DescribeCustomKeyStores(OpContext& ctx, const Request& req) {
    const std::size_t limit = PageLimit(req, 1000, 1000);
    auto stores = ctx.services.catalog.ListStores(ctx.caller.account, ctx.caller.region);
    const auto id = req.OptString("CustomKeyStoreId");
    const auto name = req.OptString("CustomKeyStoreName");
    if (id || name) {
        std::erase_if(stores, [&](const storage::StorePtr& s) {
            return (id && s->store_id != *id) || (name && s->name != *name);
        });
        if (stores.empty()) return StoreNotFound(id.value_or(name.value_or("")));
    }
    return SortedPage(
        req, "custom-key-stores", "CustomKeyStores", stores, limit,
        [](const storage::StorePtr& s) -> const std::string& { return s->store_id; },
        [](const storage::StorePtr& s) { return StoreEntry(*s); });
}

Result<Json> UpdateCustomKeyStore(OpContext& ctx, const Request& req) {
    const std::string id = req.String("CustomKeyStoreId");
    {
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
        if (store->type == "EXTERNAL_KEY_STORE") return UpdateExternalKeyStore(ctx, req, store);
    }
    KMSD_RETURN_IF_ERROR(RejectXksMembers(req));
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
        auto next = std::make_shared<storage::CustomKeyStoreRecord>(*store);
        const bool disconnected = store->connection_state == "DISCONNECTED";
        if (auto name = req.OptString("NewCustomKeyStoreName")) {
            if (!disconnected && !store->connected())
                return InvalidState(*store,
                                    "Its name can be changed only while it is CONNECTED or "
                                    "DISCONNECTED.");
            if (NameTaken(ctx, *name, id)) return NameInUse(*name);
            next->name = *name;
        }
        // The same cluster again (Terraform sends it with every update) changes nothing.
        const auto cluster_id = req.OptString("CloudHsmClusterId");
        const bool new_cluster = cluster_id && *cluster_id != store->cluster_id;
        if ((req.Has("KeyStorePassword") || new_cluster) && !disconnected)
            return InvalidState(*store,
                                "Its password and cluster can be changed only while it is "
                                "DISCONNECTED.");
        if (new_cluster) {
            KMSD_ASSIGN_OR_RETURN(storage::ClusterPtr cluster, UsableCluster(ctx, *cluster_id));
            auto original = ctx.services.catalog.FindCluster(
                {store->account, store->region, store->cluster_id});
            if (!original || original->lineage != cluster->lineage)
                return Error(ErrorCode::kCloudHsmClusterNotRelated,
                             "AWS CloudHSM cluster " + *cluster_id +
                                 " does not share a backup history with " + store->cluster_id +
                                 ", the cluster of custom key store " + id + ".");
            next->cluster_id = *cluster_id;
        }
        if (req.Has("KeyStorePassword"))
            next->password_digest = PasswordDigest(req.String("KeyStorePassword"));
        storage::Change change;
        change.put_stores.push_back(std::move(next));
        return change;
    }));
    return Json::object();
}

Result<Json> ConnectCustomKeyStore(OpContext& ctx, const Request& req) {
    const std::string id = req.String("CustomKeyStoreId");
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        storage::Change change;
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
        const std::string& state = store->connection_state;
        if (state == "CONNECTED" || state == "CONNECTING") return change;
        if (state != "DISCONNECTED")
            return InvalidState(*store,
                                "Disconnect it (DisconnectCustomKeyStore) before connecting it.");
        // Some faults AWS finds at once, leaving the store DISCONNECTED; the rest make it
        // FAILED when the connection ends (api/key_stores.h).
        auto cluster =
            ctx.services.catalog.FindCluster({store->account, store->region, store->cluster_id});
        if (cluster && cluster->state != "ACTIVE" && cluster->state != "DELETED")
            return Error(ErrorCode::kCloudHsmClusterNotActive,
                         "AWS CloudHSM cluster " + store->cluster_id + " is " + cluster->state +
                             ", not ACTIVE.");
        auto next = std::make_shared<storage::CustomKeyStoreRecord>(*store);
        next->connection_state = "CONNECTING";
        next->connection_error_code.clear();
        next->state_due = ctx.Now() + kConnectSeconds;
        change.put_stores.push_back(std::move(next));
        return change;
    }));
    return Json::object();
}

Result<Json> DisconnectCustomKeyStore(OpContext& ctx, const Request& req) {
    const std::string id = req.String("CustomKeyStoreId");
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
        if (store->connection_state == "DISCONNECTED" || store->connection_state == "DISCONNECTING")
            return InvalidState(*store, "It cannot be disconnected.");
        auto next = std::make_shared<storage::CustomKeyStoreRecord>(*store);
        next->connection_state = "DISCONNECTED";
        next->connection_error_code.clear();
        next->state_due.reset();
        storage::Change change;
        change.put_stores.push_back(std::move(next));
        return change;
    }));
    // Its keys are unusable from now on: their material leaves the HSM's cache.
    for (const auto& key : ctx.services.catalog.KeysInStore(id))
        for (const auto& m : key->materials) ctx.services.hsm.Evict(m.material_id);
    return Json::object();
}

Result<Json> DeleteCustomKeyStore(OpContext& ctx, const Request& req) {
    const std::string id = req.String("CustomKeyStoreId");
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
        if (store->connection_state != "DISCONNECTED")
            return InvalidState(*store, "Disconnect it before deleting it.");
        if (!ctx.services.catalog.KeysInStore(id).empty())
            return Error(ErrorCode::kCustomKeyStoreHasCmks,
                         "Custom key store " + id +
                             " contains KMS keys. Delete them (ScheduleKeyDeletion) and wait until "
                             "they are deleted before deleting the key store.");
        storage::Change change;
        change.delete_stores.push_back(id);
        return change;
    }));
    return Json::object();
}

}  // namespace kmsd::api::ops

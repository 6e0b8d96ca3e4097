#include "api/key_stores.h"

#include <algorithm>
#include <array>

#include "api/ops/common.h"
#include "api/resolve.h"
#include "common/base64.h"
#include "hsm/certificate.h"
#include "hsm/crypto.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kPasswordLabel = "kmsd kmsuser password v1";

// External key stores whose connection one FinishConnections call checks with their proxies.
constexpr int kMaxProxyChecksPerRun = 4;

// Simulated clusters a server keeps: each costs a few KB (its certificate), and GET
// /_kmsd/cloudhsm-clusters lists them all.
constexpr std::size_t kMaxClusters = 1000;

// CloudHSM's cluster states (its DescribeClusters); only ACTIVE clusters take key stores.
constexpr std::array<std::string_view, 9> kClusterStates = {
    "CREATE_IN_PROGRESS", "UNINITIALIZED", "INITIALIZE_IN_PROGRESS",
    "INITIALIZED",        "ACTIVE",        "UPDATE_IN_PROGRESS",
    "DELETE_IN_PROGRESS", "DELETED",       "DEGRADED"};

// The ConnectionErrorCodes of a CloudHSM key store (the model's, without the XKS ones).
constexpr std::array<std::string_view, 10> kCloudHsmErrorCodes = {
    "INVALID_CREDENTIALS",
    "CLUSTER_NOT_FOUND",
    "NETWORK_ERRORS",
    "INTERNAL_ERROR",
    "INSUFFICIENT_CLOUDHSM_HSMS",
    "USER_LOCKED_OUT",
    "USER_NOT_FOUND",
    "USER_LOGGED_IN",
    "SUBNET_NOT_FOUND",
    "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"};

template <std::size_t N>
bool OneOf(const std::array<std::string_view, N>& list, const std::string& v) {
    return std::find(list.begin(), list.end(), v) != list.end();
}

// cluster-[2-7a-zA-Z]{11,16}, the model's pattern, without a regex engine.
bool IsClusterId(const std::string& id) {
    constexpr std::string_view kPrefix = "cluster-";
    if (id.size() < kPrefix.size() + 11 || id.size() > kPrefix.size() + 16 ||
        id.compare(0, kPrefix.size(), kPrefix) != 0)
        return false;
    return std::all_of(id.begin() + kPrefix.size(), id.end(), [](char c) {
        return (c >= '2' && c <= '7') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    });
}

bool IsDigits(const std::string& s, std::size_t n) {
    return s.size() == n &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsRegionName(const std::string& s) {
    return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

// Why the connection of `store` fails, as a ConnectionErrorCode; "" when it succeeds.
std::string ConnectionError(const Services& services, const storage::CustomKeyStoreRecord& store) {
    auto cluster = services.catalog.FindCluster({store.account, store.region, store.cluster_id});
    if (!cluster || cluster->state == "DELETED") return "CLUSTER_NOT_FOUND";
    if (!cluster->connection_error.empty()) return cluster->connection_error;
    if (cluster->hsm_count < 1) return "INSUFFICIENT_CLOUDHSM_HSMS";
    if (cluster->state != "ACTIVE") return "NETWORK_ERRORS";
    if (cluster->password_digest != store.password_digest) return "INVALID_CREDENTIALS";
    return "";
}

}  // namespace

std::string PasswordDigest(std::string_view password) {
    std::string input(kPasswordLabel);
    input.push_back('\0');
    input.append(password);
    Bytes digest =
        hsm::Sha256(ByteView(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (auto b : digest) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

Result<int> FinishConnections(const Services& services, double up_to) {
    int finished = 0;
    int checked = 0;
    for (const auto& due : services.catalog.StoresDue(up_to)) {
        // Each external store's check may take a proxy's whole timeout: a few per call, the rest
        // at the scheduler's next tick, so rotations and deletions are never held up for long.
        if (due->type == "EXTERNAL_KEY_STORE" && ++checked > kMaxProxyChecksPerRun) break;
        // An external key store connects when its proxy answers GetHealthStatus: asked here,
        // outside the Catalog's writer (it may take the proxy's whole timeout).
        std::string xks_error;
        if (due->type == "EXTERNAL_KEY_STORE") {
            auto endpoint = ProxyEndpoint(services, *due, ParseXksConfig(due->config));
            xks_error = !endpoint.ok()
                            ? "INTERNAL_ERROR"
                            : xks::ConnectionErrorCode(CheckProxyHealth(
                                  services, *endpoint, "ConnectCustomKeyStore", NewUuid()));
        }
        KMSD_RETURN_IF_ERROR(services.catalog.Write([&]() -> Result<storage::Change> {
            storage::Change change;
            auto now = services.catalog.FindStore(due->store_id);
            // Disconnected or deleted meanwhile: nothing left to finish. Changed, or connected
            // again, while its proxy was asked: that answer is not about this attempt.
            if (!now || now->connection_state != "CONNECTING" || !now->state_due ||
                now->state_due != due->state_due || now->config != due->config)
                return change;
            auto next = std::make_shared<storage::CustomKeyStoreRecord>(*now);
            next->connection_error_code =
                now->type == "EXTERNAL_KEY_STORE" ? xks_error : ConnectionError(services, *now);
            next->connection_state = next->connection_error_code.empty() ? "CONNECTED" : "FAILED";
            next->state_due.reset();
            change.put_stores.push_back(std::move(next));
            ++finished;
            return change;
        }));
    }
    return finished;
}

Result<nlohmann::ordered_json> DeclareCluster(const Services& services, const nlohmann::json& spec,
                                              const std::string& default_account,
                                              const std::string& default_region) {
    const auto bad = [](const std::string& why) {
        return Error(ErrorCode::kValidation, "CloudHSM cluster: " + why);
    };
    if (!spec.is_object()) return bad("expected a JSON object");
    static constexpr std::array<std::string_view, 9> kMembers = {"ClusterId",
                                                                 "KmsUserPassword",
                                                                 "Account",
                                                                 "Region",
                                                                 "TrustAnchorCertificate",
                                                                 "HsmCount",
                                                                 "State",
                                                                 "BackupOf",
                                                                 "ConnectionErrorCode"};
    for (const auto& [name, value] : spec.items())
        if (!OneOf(kMembers, name)) return bad("unknown member " + name.substr(0, 64));
    const auto text = [&](const char* name, const std::string& fallback) -> Result<std::string> {
        if (!spec.contains(name)) return fallback;
        if (!spec[name].is_string()) return bad(std::string(name) + " must be a string");
        return spec[name].get<std::string>();
    };
    auto cluster = std::make_shared<storage::CloudHsmClusterRecord>();
    KMSD_ASSIGN_OR_RETURN(cluster->cluster_id, text("ClusterId", ""));
    if (!IsClusterId(cluster->cluster_id))
        return bad("ClusterId must match cluster-[2-7a-zA-Z]{11,16}");
    KMSD_ASSIGN_OR_RETURN(std::string password, text("KmsUserPassword", ""));
    if (password.size() < 7 || password.size() > 32)
        return bad("KmsUserPassword must be 7 to 32 characters");
    cluster->password_digest = PasswordDigest(password);
    KMSD_ASSIGN_OR_RETURN(cluster->account, text("Account", default_account));
    if (!IsDigits(cluster->account, 12)) return bad("Account must be 12 digits");
    KMSD_ASSIGN_OR_RETURN(cluster->region, text("Region", default_region));
    if (!IsRegionName(cluster->region)) return bad("Region must be a Region name");
    // A cluster declared again (the seed file at every start) keeps its trust anchor and its
    // backup history unless the declaration names them: stores and clients hold the anchor.
    const storage::ClusterPtr before = services.catalog.FindCluster(cluster->scoped());
    if (!before && services.catalog.AllClusters().size() >= kMaxClusters)
        return bad("at most " + std::to_string(kMaxClusters) + " clusters can be declared");
    KMSD_ASSIGN_OR_RETURN(cluster->trust_anchor,
                          text("TrustAnchorCertificate", before ? before->trust_anchor : ""));
    if (cluster->trust_anchor.empty()) {
        KMSD_ASSIGN_OR_RETURN(cluster->trust_anchor,
                              hsm::SelfSignedCertificatePem("kmsd simulated CloudHSM " +
                                                            cluster->cluster_id + " trust anchor"));
    } else if (cluster->trust_anchor.size() > 5000 ||
               cluster->trust_anchor.find("-----BEGIN CERTIFICATE-----") == std::string::npos ||
               !std::all_of(cluster->trust_anchor.begin(), cluster->trust_anchor.end(), [](char c) {
                   return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r';
               })) {
        // PEM is printable ASCII: nothing else is kept, or shown again.
        return bad("TrustAnchorCertificate must be a PEM certificate of at most 5000 characters");
    }
    if (spec.contains("HsmCount")) {
        // A number, or its digits (a YAML seed file's scalars arrive as text).
        const auto& n = spec["HsmCount"];
        const std::string digits = n.is_string() ? n.get<std::string>() : "";
        const bool text_ok =
            !digits.empty() && digits.size() <= 2 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
        const long long count = n.is_number_integer() ? n.get<long long>()
                                : text_ok             ? std::stoll(digits)
                                                      : -1;
        if (count < 0 || count > 28) return bad("HsmCount must be an integer from 0 to 28");
        cluster->hsm_count = static_cast<int>(count);
    }
    KMSD_ASSIGN_OR_RETURN(cluster->state, text("State", "ACTIVE"));
    if (!OneOf(kClusterStates, cluster->state))
        return bad("State must be one of CloudHSM's cluster states (ACTIVE, UNINITIALIZED, ...)");
    KMSD_ASSIGN_OR_RETURN(cluster->connection_error, text("ConnectionErrorCode", ""));
    if (!cluster->connection_error.empty() &&
        !OneOf(kCloudHsmErrorCodes, cluster->connection_error))
        return bad("ConnectionErrorCode must be a CloudHSM key store's ConnectionErrorCode");
    KMSD_ASSIGN_OR_RETURN(std::string backup_of, text("BackupOf", ""));
    cluster->lineage = before ? before->lineage : cluster->cluster_id;
    if (!backup_of.empty()) {
        auto source = services.catalog.FindCluster({cluster->account, cluster->region, backup_of});
        if (!source) return bad("BackupOf names no cluster of this account and Region");
        cluster->lineage = source->lineage;
    }
    storage::Change change;
    change.put_clusters.push_back(cluster);
    KMSD_RETURN_IF_ERROR(services.catalog.Apply(change));
    return ClusterJson(*cluster);
}

nlohmann::ordered_json ClusterJson(const storage::CloudHsmClusterRecord& cluster) {
    return {{"ClusterId", cluster.cluster_id},
            {"Account", cluster.account},
            {"Region", cluster.region},
            {"State", cluster.state},
            {"HsmCount", cluster.hsm_count},
            {"Lineage", cluster.lineage},
            {"ConnectionErrorCode", cluster.connection_error},
            {"TrustAnchorCertificate", cluster.trust_anchor}};
}

XksConfig ParseXksConfig(const std::string& json) {
    XksConfig c;
    const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return c;
    const auto text = [&](const char* name) {
        auto it = parsed.find(name);
        return it != parsed.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    c.connectivity = text("Connectivity");
    c.uri_endpoint = text("UriEndpoint");
    c.uri_path = text("UriPath");
    c.access_key_id = text("AccessKeyId");
    c.sealed_secret = text("SealedSecret");
    c.vpc_service_name = text("VpcEndpointServiceName");
    c.vpc_service_owner = text("VpcEndpointServiceOwner");
    return c;
}

std::string XksConfigJson(const XksConfig& c) {
    nlohmann::ordered_json j;
    j["Connectivity"] = c.connectivity;
    j["UriEndpoint"] = c.uri_endpoint;
    j["UriPath"] = c.uri_path;
    j["AccessKeyId"] = c.access_key_id;
    j["SealedSecret"] = c.sealed_secret;
    if (!c.vpc_service_name.empty()) j["VpcEndpointServiceName"] = c.vpc_service_name;
    if (!c.vpc_service_owner.empty()) j["VpcEndpointServiceOwner"] = c.vpc_service_owner;
    return j.dump();
}

Result<xks::Endpoint> ProxyEndpoint(const Services& services,
                                    const storage::CustomKeyStoreRecord& store,
                                    const XksConfig& config) {
    auto sealed = Base64Decode(config.sealed_secret);
    if (!sealed)
        return Error(ErrorCode::kInternal,
                     "the proxy credential of custom key store " + store.store_id + " is corrupt");
    KMSD_ASSIGN_OR_RETURN(SecureBytes secret, services.hsm.UnsealSecret(store.store_id, *sealed));
    xks::Endpoint e;
    e.uri_endpoint = config.uri_endpoint;
    e.uri_path = config.uri_path;
    e.access_key_id = config.access_key_id;
    e.secret.assign(secret.begin(), secret.end());
    e.region = store.region;
    return e;
}

xks::Failure CallProxy(const Services& services, const xks::Endpoint& endpoint,
                       std::string_view path, const SecureString& body, ProxyAnswer& answer) {
    if (services.xks == nullptr) return xks::Failure::kUnreachable;
    return services.xks->Post(endpoint, path, std::string_view(body.data(), body.size()),
                              answer.status, answer.body);
}

xks::Failure CheckProxyHealth(const Services& services, const xks::Endpoint& endpoint,
                              const std::string& operation, const std::string& request_id) {
    xks::RequestMetadata meta;
    meta.kms_operation = operation;
    meta.kms_request_id = request_id;
    ProxyAnswer answer;
    if (auto failure =
            CallProxy(services, endpoint, xks::kHealthPath, xks::HealthRequest(meta), answer);
        failure != xks::Failure::kNone)
        return failure;
    return xks::ParseHealth(answer.view());
}

}  // namespace kmsd::api

/// gRPC method paths ("/package.Service/Method") of the services in Protos/.
public enum MethodPath {
    public static let generate = "/latentserve.v1.Decode/Generate"
    public static let stats = "/latentserve.v1.Decode/Stats"
    public static let prefill = "/latentserve.v1.Prefill/Prefill"
    public static let info = "/latentserve.v1.Prefill/Info"
    public static let healthCheck = "/grpc.health.v1.Health/Check"
    public static let healthWatch = "/grpc.health.v1.Health/Watch"

    /// Service names as the health service reports them.
    public static let decodeService = "latentserve.v1.Decode"
    public static let prefillService = "latentserve.v1.Prefill"
}

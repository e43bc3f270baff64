import Hummingbird

/// Turns every refusal, including Hummingbird's own (no such route, body too large), into the API's one error
/// shape `{"error": "..."}`, so a script parses a single format whatever went wrong.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPAPIError {
            throw error
        } catch let error as any HTTPResponseError {
            throw HTTPAPIError(error.status, Self.message(for: error.status, request))
        } catch {
            throw HTTPAPIError(
                .internalServerError, "internal error: \(error); the node keeps serving, please report it")
        }
    }

    private static func message(for status: HTTPResponse.Status, _ request: Request) -> String {
        switch status {
        case .notFound, .methodNotAllowed:
            "no endpoint \(request.method) \(request.uri.path); the endpoints are listed in docs/http.md"
        case .contentTooLarge:
            "the request body is over \(HTTPRoutes.requestBytesMax) bytes; split the value over several keys"
        default:
            "\(status.reasonPhrase.lowercased()) (\(request.method) \(request.uri.path))"
        }
    }
}

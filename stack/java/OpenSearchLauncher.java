import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * Runs one real OpenSearch node (with its modules) in this JVM, bound to 127.0.0.1.
 *
 * http.port and transport.port are explicit: left to the runner, a taken port silently moves the node
 * to the next free one and clients would talk to something else.
 * Usage: OpenSearchLauncher HTTP_PORT TRANSPORT_PORT DATA_DIR
 */
public final class OpenSearchLauncher {
  public static void main(String[] args) throws Exception {
    String httpPort = args[0];
    String transportPort = args[1];
    String dataDir = args[2];
    OpenSearchRunner runner = new OpenSearchRunner();
    // The runner probes ports from baseHttpPort + 1 up to this bound: pin both to our one port.
    runner.setMaxHttpPort(Integer.parseInt(httpPort));
    runner.onBuild((number, settings) -> {
      settings.put("network.host", "127.0.0.1");
      settings.put("http.port", httpPort);
      settings.put("transport.port", transportPort);
      settings.put("discovery.type", "single-node");
      settings.remove("cluster.initial_cluster_manager_nodes");
      settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
      settings.put("action.auto_create_index", true);
      settings.put("http.max_content_length", "100mb");
    }).build(OpenSearchRunner.newConfigs()
        .basePath(dataDir)
        .numOfNode(1)
        .clusterName("facewatch-local")
        .baseHttpPort(Integer.parseInt(httpPort) - 1));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        runner.close();
      } catch (Exception e) {
        System.err.println("opensearch: close failed: " + e);
      }
    }));
    runner.ensureYellow();
    System.out.println("opensearch listening on 127.0.0.1:" + httpPort);
    Thread.currentThread().join();
  }
}

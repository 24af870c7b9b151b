import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * Starts DynamoDB Local in memory on 127.0.0.1 only.
 *
 * DynamoDB Local has no host option and listens on every interface; this launcher reaches its Jetty
 * server before start and pins the connector to the loopback address.
 * Usage: DynamoDbLocalLauncher PORT
 */
public final class DynamoDbLocalLauncher {
  public static void main(String[] args) throws Exception {
    String port = args.length > 0 ? args[0] : "8000";
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(
        new String[] {"-inMemory", "-port", port, "-disableTelemetry"});
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server jetty = (Server) field.get(proxy);
    for (Connector connector : jetty.getConnectors()) {
      if (connector instanceof ServerConnector) {
        ((ServerConnector) connector).setHost("127.0.0.1");
      }
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        proxy.stop();
      } catch (Exception e) {
        System.err.println("dynamodb-local: stop failed: " + e);
      }
    }));
    proxy.start();
    System.out.println("dynamodb-local listening on 127.0.0.1:" + port);
    proxy.join();
  }
}

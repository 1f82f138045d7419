// Kafka's Java AdminClient calling the older AlterConfigs API (Admin.alterConfigs, deprecated since 2.3 but still
// what some consoles use): the given configs replace the resource's whole set of dynamic configs.
//
// java -cp 'libs/*' LegacyAlterConfigs.java BOOTSTRAP topic|broker NAME [key=value ...]
//
// Prints "ok" or the error's class and message, then the resource's configs as DescribeConfigs reports them,
// one "name=value source" line each (only configs not at their default).

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.config.ConfigResource;

public class LegacyAlterConfigs {
    @SuppressWarnings("deprecation")
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        ConfigResource.Type type = args[1].equals("topic") ? ConfigResource.Type.TOPIC : ConfigResource.Type.BROKER;
        ConfigResource resource = new ConfigResource(type, args[2]);
        List<ConfigEntry> entries = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            String[] pair = args[i].split("=", 2);
            entries.add(new ConfigEntry(pair[0], pair[1]));
        }
        try (Admin admin = Admin.create(props)) {
            try {
                admin.alterConfigs(Map.of(resource, new Config(entries))).all().get();
                System.out.println("ok");
            } catch (ExecutionException e) {
                System.out.println(e.getCause().getClass().getSimpleName() + ": " + e.getCause().getMessage());
            }
            Config config;
            try {
                config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            } catch (ExecutionException e) {
                return;  // the resource does not exist: its error was printed above
            }
            for (ConfigEntry entry : config.entries()) {
                if (entry.source() != ConfigEntry.ConfigSource.DEFAULT_CONFIG) {
                    System.out.println(entry.name() + "=" + entry.value() + " " + entry.source());
                }
            }
        }
    }
}

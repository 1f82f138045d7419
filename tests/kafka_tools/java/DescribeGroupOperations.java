// Kafka's Java AdminClient describing consumer groups with their authorized operations
// (Admin.describeConsumerGroups with includeAuthorizedOperations: DescribeGroups v3+ asking for them).
//
// java -cp 'libs/*' DescribeGroupOperations.java BOOTSTRAP GROUP [GROUP ...]
//
// Prints one line a group: "group state operations", the operations sorted by name and joined by commas
// ("-" when the broker answered none), or "group error ExceptionClass" when the group could not be described.

import java.util.Arrays;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.acl.AclOperation;

public class DescribeGroupOperations {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        String[] groups = Arrays.copyOfRange(args, 1, args.length);
        try (Admin admin = Admin.create(props)) {
            DescribeConsumerGroupsOptions options = new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true);
            Map<String, KafkaFuture<ConsumerGroupDescription>> described =
                admin.describeConsumerGroups(Arrays.asList(groups), options).describedGroups();
            for (String group : groups) {
                try {
                    ConsumerGroupDescription description = described.get(group).get();
                    Set<AclOperation> operations = description.authorizedOperations();
                    String names = operations == null || operations.isEmpty() ? "-"
                        : operations.stream().map(AclOperation::name).sorted().collect(Collectors.joining(","));
                    System.out.println(group + " " + description.state() + " " + names);
                } catch (ExecutionException e) {
                    System.out.println(group + " error " + e.getCause().getClass().getSimpleName());
                }
            }
        }
    }
}

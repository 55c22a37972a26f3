// Send one message with JavaMail (1.6.5, /usr/share/java/javax.mail.jar):
// the reference side of scripts/javamail-parity.sh. Its command line mirrors
// smtp-send's:
//
//   java -cp /usr/share/java/javax.mail.jar:/usr/share/java/javax.activation.jar:DIR Send \
//        --properties FILE -s HOST:PORT -m MESSAGE [-u USER] [--password-env VAR] RCPT...
//
// The session is built from the .properties file; -s overrides mail.smtp.host
// and mail.smtp.port. The message is parsed with new MimeMessage(session, in)
// and sent with Transport.send(msg, recipients) (or, with a password,
// Transport.send(msg, recipients, user, password); the user defaults to
// mail.smtp.user). JAVAMAIL_DEBUG=1 sets session debug (transcript on stdout).
//
// Exit status, as smtp-send's (sysexits): 0 sent to every recipient; 64
// usage; 65 unreadable message; 67 SendFailedException with invalid
// addresses (5xx RCPT); 75 SendFailedException with only temporary (4xx)
// refusals, a 4xx reply to MAIL or to the end of data, or an I/O failure;
// 69 any other MessagingException; 77 AuthenticationFailedException. The last lines on stderr are always
// "valid-sent: ...", "valid-unsent: ...", "invalid: ..." (addresses, or "-").

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import com.sun.mail.smtp.SMTPAddressFailedException;
import com.sun.mail.smtp.SMTPSendFailedException;

import javax.mail.Address;
import javax.mail.AuthenticationFailedException;
import javax.mail.MessagingException;
import javax.mail.SendFailedException;
import javax.mail.Session;
import javax.mail.Transport;
import javax.mail.internet.InternetAddress;
import javax.mail.internet.MimeMessage;

public class Send {
    static void usage(String why) {
        System.err.println("Send: " + why);
        System.err.println("usage: Send --properties FILE -s HOST:PORT -m MESSAGE "
                + "[-u USER] [--password-env VAR] RCPT...");
        System.exit(64);
    }

    static String list(Address[] addresses) {
        if (addresses == null || addresses.length == 0) {
            return "-";
        }
        StringBuilder b = new StringBuilder();
        for (Address a : addresses) {
            if (b.length() > 0) {
                b.append(' ');
            }
            b.append(a instanceof InternetAddress ? ((InternetAddress) a).getAddress() : a.toString());
        }
        return b.toString();
    }

    /** The summary lines when the failure is not a SendFailedException. */
    static void nothingSent() {
        System.err.println("valid-sent: -");
        System.err.println("valid-unsent: -");
        System.err.println("invalid: -");
    }

    static int summary(SendFailedException e) {
        System.err.println("javamail: " + e.getClass().getName() + ": " + e.getMessage());
        System.err.println("valid-sent: " + list(e.getValidSentAddresses()));
        System.err.println("valid-unsent: " + list(e.getValidUnsentAddresses()));
        System.err.println("invalid: " + list(e.getInvalidAddresses()));
        for (Exception next = e.getNextException(); next != null;
                next = next instanceof MessagingException ? ((MessagingException) next).getNextException() : null) {
            System.err.println("  next: " + next.getClass().getName() + ": " + next.getMessage());
        }
        Address[] invalid = e.getInvalidAddresses();
        if (invalid != null && invalid.length > 0) {
            return 67;
        }
        // Only temporary refusals (4xx RCPT: valid-unsent), or a 4xx reply
        // to MAIL or the end of data: a temporary failure.
        for (Exception next = e.getNextException(); next != null;
                next = next instanceof MessagingException ? ((MessagingException) next).getNextException() : null) {
            if (next instanceof SMTPAddressFailedException
                    && ((SMTPAddressFailedException) next).getReturnCode() / 100 == 4) {
                return 75;
            }
        }
        if (e instanceof SMTPSendFailedException) {
            return ((SMTPSendFailedException) e).getReturnCode() / 100 == 4 ? 75 : 69;
        }
        return 69;
    }

    public static void main(String[] args) throws Exception {
        String propertiesFile = null, server = null, messageFile = null, user = null, passwordEnv = null;
        List<String> recipients = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            boolean hasValue = i + 1 < args.length;
            switch (a) {
                case "--properties": if (!hasValue) usage(a + " needs a value"); propertiesFile = args[++i]; break;
                case "-s": case "--server": if (!hasValue) usage(a + " needs a value"); server = args[++i]; break;
                case "-m": case "--message": if (!hasValue) usage(a + " needs a value"); messageFile = args[++i]; break;
                case "-u": case "--user": if (!hasValue) usage(a + " needs a value"); user = args[++i]; break;
                case "--password-env": if (!hasValue) usage(a + " needs a value"); passwordEnv = args[++i]; break;
                default:
                    if (a.startsWith("-")) usage("unknown option " + a);
                    recipients.add(a);
            }
        }
        if (messageFile == null) usage("-m MESSAGE is required");
        if (recipients.isEmpty()) usage("no recipients");

        Properties props = new Properties();
        if (propertiesFile != null) {
            try (InputStream in = new FileInputStream(propertiesFile)) {
                props.load(in);
            }
        }
        if (server != null) {
            int colon = server.lastIndexOf(':');
            if (colon > 0) {
                props.setProperty("mail.smtp.host", server.substring(0, colon));
                props.setProperty("mail.smtp.port", server.substring(colon + 1));
            } else {
                props.setProperty("mail.smtp.host", server);
            }
        }
        Session session = Session.getInstance(props);
        if ("1".equals(System.getenv("JAVAMAIL_DEBUG"))) {
            session.setDebug(true);
        }

        MimeMessage msg;
        try (InputStream in = new FileInputStream(messageFile)) {
            msg = new MimeMessage(session, in);
        } catch (IOException e) {
            System.err.println("Send: " + messageFile + ": " + e);
            System.exit(65);
            return;
        }
        Address[] addresses = new Address[recipients.size()];
        for (int i = 0; i < addresses.length; i++) {
            addresses[i] = new InternetAddress(recipients.get(i), true);
        }

        String password = passwordEnv == null ? null : System.getenv(passwordEnv);
        if (passwordEnv != null && password == null) usage("--password-env " + passwordEnv + ": not set");
        if (user == null) {
            user = props.getProperty("mail.smtp.user");
        }
        int code = 0;
        try {
            if (password != null && Boolean.parseBoolean(props.getProperty("mail.smtp.auth", "false"))) {
                Transport.send(msg, addresses, user, password);
            } else {
                Transport.send(msg, addresses);
            }
            System.err.println("valid-sent: " + list(addresses));
            System.err.println("valid-unsent: -");
            System.err.println("invalid: -");
        } catch (AuthenticationFailedException e) {
            System.err.println("javamail: " + e.getClass().getName() + ": " + e.getMessage());
            nothingSent();
            code = 77;
        } catch (SendFailedException e) {
            code = summary(e);
        } catch (MessagingException e) {
            System.err.println("javamail: " + e.getClass().getName() + ": " + e.getMessage());
            Exception next = e.getNextException();
            if (next != null) {
                System.err.println("  next: " + next.getClass().getName() + ": " + next.getMessage());
            }
            nothingSent();
            code = next instanceof IOException ? 75 : 69;
        }
        System.exit(code);
    }
}

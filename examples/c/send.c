/* The seed's test program in C: send one message with one call.
 * Usage: send SERVER AUTH USER PASSWORD TO FROM SUBJECT BODY
 *   SERVER  host, host:port, or smtp[s]://host[:port][?ca_file=CA.pem]
 *   AUTH    1 to authenticate as USER with PASSWORD (over TLS), 0 not to
 * Build:  cc send.c $(pkg-config --cflags --libs smtp) -o send */
#include <stdio.h>
#include <stdlib.h>
#include <smtp.h>

int main(int argc, char **argv)
{
    int auth;
    smtp_result r;
    if (argc != 9) {
        fprintf(stderr, "usage: %s SERVER AUTH USER PASSWORD TO FROM SUBJECT BODY\n", argv[0]);
        return 64;
    }
    auth = atoi(argv[2]);
    r = smtp_send(argv[1], 0, SMTP_SECURITY_DEFAULT, auth ? argv[3] : NULL,
                  auth ? argv[4] : NULL, argv[6], argv[5], argv[7], argv[8]);
    if (r != SMTP_OK) {
        fprintf(stderr, "%s: %s\n", smtp_result_str(r), smtp_last_message());
        return 1;
    }
    printf("sent: %s\n", smtp_last_message());
    return 0;
}

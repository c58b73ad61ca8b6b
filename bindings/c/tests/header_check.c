/* Compiled as C99 and as C++ by `make check-header`: the header alone must
 * build without a single warning (-Wall -Wextra -Wpedantic -Werror). */
#include "smtp.h"

int header_check(void);

int header_check(void)
{
    smtp_result r = SMTP_OK;
    smtp_security s = SMTP_SECURITY_DEFAULT;
    smtp_recipient_policy p = SMTP_RECIPIENTS_ALL_OR_NOTHING;
    smtp_long_lines l = SMTP_LONG_LINES_REFUSE;
    smtp_direction d = SMTP_DIRECTION_INFO;
    smtp_transcript_callback cb = 0;
    smtp_client *client = 0;
    smtp_message *message = 0;
    (void)cb;
    (void)client;
    (void)message;
    return (int)r + (int)s + (int)p + (int)l + (int)d + SMTP_VERSION_MAJOR + SMTP_VERSION_MINOR +
           SMTP_VERSION_PATCH + (int)sizeof(SMTP_VERSION_STRING);
}

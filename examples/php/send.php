<?php
// send.php from limodou's article (2000), only the include line changed:
// send_mail now goes through libsmtp (STARTTLS/TLS, every AUTH mechanism).
// php send.php [SERVER USER TO FROM]; the password from $SMTP_PASSWORD.
include(__DIR__ . "/../../bindings/php/legacy/sendmail.class.php");

[, $server, $user, $to, $from] = $argv + ["", "smtp.263.net", "username", "toemail", "fromemail"];
$password = getenv("SMTP_PASSWORD") ?: "password";

$sendmail=new send_mail($server, true, $user, $password, "hello", true);
$ok = $sendmail->send($to, $from, "test", "This is a test!");
exit($ok ? 0 : 1);

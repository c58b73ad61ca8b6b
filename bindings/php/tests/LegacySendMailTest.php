<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * The drop-in send_mail class: the seed's calls unchanged, true/false,
 * $lastmessage/$lastact, debug output without secrets, TLS and AUTH,
 * header lines in the message as the original allowed, and no warning or
 * exception whatever is passed.
 */
final class LegacySendMailTest extends SmtpTestCase
{
    /** "host:port" of the bed's plaintext AUTH port. */
    private function plainServer(): string
    {
        $bed = $this->bed();
        return $bed->host() . ':' . $bed->port('plain');
    }

    /** Runs $send with output buffering and returns [result, output]. */
    private function captured(callable $send): array
    {
        ob_start();
        try {
            $result = $send();
        } finally {
            $output = (string) ob_get_clean();
        }
        return [$result, $output];
    }

    public function testTheSeedsCallWithDebugOutput(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-seed');
        // Exactly the seed's send.php, with a real server and account.
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password(), 'hello', true);
        [$ok, $output] = $this->captured(fn () => $sendmail->send(
            $bed->address('toemail'),
            $bed->address('fromemail'),
            'test',
            "This is a test! $marker",
        ));
        $this->assertTrue($ok, $sendmail->lasterror);
        $this->assertStringStartsWith('250 ', $sendmail->lastmessage);
        $this->assertSame('QUIT', $sendmail->lastact);
        $this->assertSame('', $sendmail->lasterror);
        $this->assertStringContainsString('>> Connect to SMTP server : ' . $this->plainServer(), $output);
        $this->assertStringContainsString('>> EHLO hello', $output);
        $this->assertStringContainsString('<< 220 ', $output);
        $this->assertStringContainsString('[credentials hidden]', $output);
        $this->assertStringContainsString('<< 235 ', $output);
        $this->assertNoSecret($output);
        $this->assertNoSecret(print_r($sendmail, true));

        $delivered = $bed->waitForMessage($marker);
        $this->assertSame('test', self::header($delivered, 'Subject'));
        $this->assertSame($bed->address('toemail'), self::header($delivered, 'To'));
        $this->assertSame($bed->address('fromemail'), self::header($delivered, 'From'));
    }

    public function testWithoutDebugNothingIsPrinted(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-quiet');
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password());
        [$ok, $output] = $this->captured(fn () => $sendmail->send($bed->address('to'), $bed->address('from'), $marker, 'quiet'));
        $this->assertTrue($ok, $sendmail->lasterror);
        $this->assertSame('', $output);
        $bed->waitForMessage($marker);
    }

    public function testWithoutAuthenticationToAServerOnThisMachine(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-noauth');
        // The original's first form: a local relay, no AUTH; port via the property.
        $sendmail = new \send_mail($bed->host(), false, '', '', 'hello', false);
        $sendmail->port = $bed->port('noauth');
        $this->assertTrue($sendmail->send($bed->address('to'), $bed->address('from'), $marker, 'body'), $sendmail->lasterror);
        $bed->waitForMessage($marker);
    }

    public function testStartTlsWithACaFileArgumentAndImplicitTlsByProperty(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-tls');
        $sendmail = new \send_mail('localhost:' . $bed->port('submission'), true, $bed->user(), $bed->password(),
            'hello', true, $bed->caFile());
        [$ok, $output] = $this->captured(fn () => $sendmail->send($bed->address('to'), $bed->address('from'), "$marker-1", 'tls'));
        $this->assertTrue($ok, $sendmail->lasterror);
        $this->assertStringContainsString('>> STARTTLS', $output);
        $this->assertStringContainsString('TLS established', $output);
        $this->assertNoSecret($output);

        $sendmail = new \send_mail('localhost:' . $bed->port('smtps'), true, $bed->user(), $bed->password());
        $sendmail->security = 'implicit';
        $sendmail->ca_file = $bed->caFile();
        $this->assertTrue($sendmail->send($bed->address('to'), $bed->address('from'), "$marker-2", 'tls'), $sendmail->lasterror);
        $bed->waitForMessage("$marker-1");
        $bed->waitForMessage("$marker-2");
    }

    public function testCaFileFromTheEnvironment(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-envca');
        putenv('SMTP_CA_FILE=' . $bed->caFile());
        try {
            $sendmail = new \send_mail('localhost:' . $bed->port('submission'), true, $bed->user(), $bed->password());
            $this->assertTrue($sendmail->send($bed->address('to'), $bed->address('from'), $marker, 'x'), $sendmail->lasterror);
        } finally {
            putenv('SMTP_CA_FILE');
        }
        $bed->waitForMessage($marker);
    }

    /**
     * $smtp goes to the library as given: "[v6]:port" and "host" with the
     * $port property both reach the server, and the debug line shows
     * where it connects.
     */
    public function testServerStringsAreSplitByTheLibrary(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-server');
        $sendmail = new \send_mail('localhost', true, $bed->user(), $bed->password(), 'hello', true);
        $sendmail->port = $bed->port('plain');
        [$ok, $output] = $this->captured(fn () => $sendmail->send($bed->address('to'), $bed->address('from'), "$marker-1", 'x'));
        $this->assertTrue($ok, $sendmail->lasterror);
        $this->assertStringContainsString('>> Connect to SMTP server : localhost:' . $bed->port('plain') . "\n", $output);
        $this->assertStringNotContainsString('>> STARTTLS', $output, 'this machine: plain SMTP, as before');
        $bed->waitForMessage("$marker-1");

        try {
            $ipv6 = (int) $bed->var('PORT_IPV6');
        } catch (\RuntimeException $e) {
            $this->markTestSkipped('the test bed has no [::1] listener');
        }
        $sendmail = new \send_mail("[::1]:$ipv6", true, $bed->user(), $bed->password(), 'hello', true);
        $sendmail->port = 1; // the port in $smtp wins
        [$ok, $output] = $this->captured(fn () => $sendmail->send($bed->address('to'), $bed->address('from'), "$marker-2", 'x'));
        $this->assertTrue($ok, $sendmail->lasterror);
        $this->assertStringContainsString(">> Connect to SMTP server : [::1]:$ipv6\n", $output);
        $this->assertStringNotContainsString('>> STARTTLS', $output, '::1 is this machine too');
        $bed->waitForMessage("$marker-2");
    }

    /**
     * Outside the loopback rule the library's automatic TLS rule decides:
     * with a CA file and no AUTH, STARTTLS when offered (a local relay
     * without TLS still gets the mail); with AUTH, STARTTLS required (the
     * password is never sent to a server that does not offer it).
     */
    public function testWithACaFileTheLibrarysAutomaticTlsRuleDecides(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-auto');
        $sendmail = new \send_mail('localhost:' . $bed->port('noauth'), false, '', '', 'hello', false, $bed->caFile());
        $this->assertTrue($sendmail->send($bed->address('to'), $bed->address('from'), $marker, 'x'), $sendmail->lasterror);
        $bed->waitForMessage($marker);

        $sendmail = new \send_mail('localhost:' . $bed->port('plain'), true, $bed->user(), $bed->password(), 'hello',
            true, $bed->caFile());
        [$ok, $output] = $this->captured(fn () => $sendmail->send($bed->address('to'), $bed->address('from'), 's', 'x'));
        $this->assertFalse($ok);
        $this->assertStringContainsString('STARTTLS', $sendmail->lasterror);
        $this->assertStringNotContainsString('>> AUTH', $output);
        $this->assertNoSecret($output . $sendmail->lasterror);
    }

    public function testWrongPasswordReturnsFalseWithTheServersReply(): void
    {
        $bed = $this->bed();
        $wrong = 'Not-The-Pass-' . random_int(10000, 99999);
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $wrong, 'hello', true);
        [$ok, $output] = $this->captured(fn () => $sendmail->send($bed->address('to'), $bed->address('from'), 's', 'm'));
        $this->assertFalse($ok);
        $this->assertStringStartsWith('535 5.7.8', $sendmail->lastmessage);
        $this->assertStringStartsWith('AUTH ', $sendmail->lastact);
        $this->assertStringContainsString('authentication', $sendmail->lasterror);
        $this->assertNoSecret($output . $sendmail->lastmessage . $sendmail->lasterror . $sendmail->lastact, $wrong);
    }

    public function testRefusedRecipientReturnsFalseAndSendsNothing(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-refused');
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password());
        $ok = $sendmail->send([$bed->address('fine'), $bed->address('reject-me')], $bed->address('from'), $marker, 'x');
        $this->assertFalse($ok);
        $this->assertStringStartsWith('550 5.1.1', $sendmail->lastmessage);
        $this->assertTrue($bed->noMessageWith($marker, 1.0));
    }

    public function testUnreachableServerAndEmptyServer(): void
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($server, false);
        fclose($server);
        $sendmail = new \send_mail($name, false, '', '', '', false);
        $this->assertFalse($sendmail->send('a@example.test', 'b@example.test', 's', 'm'));
        $this->assertStringContainsString('connect', $sendmail->lastmessage);
        $this->assertSame('connect', $sendmail->lastact);

        $empty = new \send_mail('');
        $this->assertFalse($empty->send('a@example.test', 'b@example.test', 's', 'm'));
        $this->assertStringContainsString('empty', $empty->lastmessage);
    }

    public function testHeaderInjectionAndBadArgumentsGiveFalseWithoutWarnings(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-inject');
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password());
        $to = $bed->address('to');
        $from = $bed->address('from');
        $cases = [
            [$to, $from, "$marker\r\nBcc: victim@example.org", 'x'],
            [$to, $from, "$marker\nBcc: victim@example.org", 'x'],
            ["$to\r\nBcc: victim@example.org", $from, $marker, 'x'],
            [$to, "$from\nX-Evil: 1", $marker, 'x'],
            [$to, $from, "$marker\0", 'x'],
            [$to, $from, $marker, "body\0with NUL"],
            [new \stdClass(), $from, $marker, 'x'],
            [$to, [$from], $marker, 'x'],
            [$to, $from, $marker, ['x']],
            [$to, $from, $marker, fopen('php://memory', 'r')],
            [null, null, null, null],
            [$to, $from, "\xff\xfe $marker\r\nBcc: victim@example.org", "Content-Type: text/plain\r\n\r\nx"],
        ];
        foreach ($cases as $i => [$t, $f, $s, $m]) {
            $this->assertFalse($sendmail->send($t, $f, $s, $m), "case $i");
            $this->assertNotSame('', $sendmail->lastmessage, "case $i");
        }
        $this->assertTrue($bed->noMessageWith($marker, 1.0));
    }

    public function testMessageWithItsOwnHeaderLinesAsTheOriginalAllowed(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-headers');
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password());
        $message = "Content-Type: text/html; charset=utf-8\nX-Legacy: yes\nBcc: " . $bed->address('hidden')
            . "\n\n<p>HTML from 2000, $marker</p>\n.\n";
        $this->assertTrue($sendmail->send($bed->address('visible'), $bed->address('from'), 'Grüße — 你好', $message),
            $sendmail->lasterror);
        $delivered = $bed->waitForMessages($marker, 2);
        foreach ($delivered as $mail) {
            $this->assertSame('text/html; charset=utf-8', self::header($mail, 'Content-Type'));
            $this->assertSame('yes', self::header($mail, 'X-Legacy'));
            $this->assertSame('1.0', self::header($mail, 'MIME-Version'));
            $this->assertNull(self::header($mail, 'Bcc'), 'Bcc recipients are not shown');
            $this->assertNotNull(self::header($mail, 'Date'));
            $this->assertNotNull(self::header($mail, 'Message-ID'));
            $this->assertSame('Grüße — 你好', self::decodedHeader($mail, 'Subject'));
            $body = str_replace("\r\n", "\n", explode("\n\n", str_replace("\r\n", "\n", $mail), 2)[1]);
            $this->assertSame("<p>HTML from 2000, $marker</p>\n", $body, 'the terminating "." is not sent as text');
        }
    }

    public function testNonUtf8TextGoesOutByteForByte(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-gb2312');
        $gbSubject = "\xb2\xe2\xca\xd4"; // "测试" in GB2312
        $gbBody = "\xc4\xe3\xba\xc3 $marker\n"; // "你好"
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password());
        $this->assertTrue($sendmail->send($bed->address('to'), $bed->address('from'), $gbSubject, $gbBody), $sendmail->lasterror);
        $delivered = $bed->waitForMessage($marker);
        $this->assertSame($gbSubject, self::header($delivered, 'Subject'));
        $this->assertStringContainsString($gbBody, str_replace("\r\n", "\n", $delivered));
    }

    public function testUtf8TextIsComposedWithMime(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-legacy-utf8');
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), $bed->password());
        $this->assertTrue($sendmail->send($bed->address('to'), 'Zoë <' . $bed->address('zoe') . '>', "季度报告 $marker",
            "Grüße, 你好\n"), $sendmail->lasterror);
        $delivered = $bed->waitForMessage($marker);
        $this->assertSame("季度报告 $marker", self::decodedHeader($delivered, 'Subject'));
        $this->assertStringContainsString('charset=utf-8', strtolower($delivered));
    }

    public function testThePasswordIsHiddenButSettable(): void
    {
        $bed = $this->bed();
        $sendmail = new \send_mail($this->plainServer(), true, $bed->user(), 'placeholder');
        $dump = print_r($sendmail, true);
        $this->assertStringNotContainsString('placeholder', $dump);
        ob_start();
        var_dump($sendmail);
        $this->assertStringNotContainsString('placeholder', (string) ob_get_clean());
        $this->assertSame('', $sendmail->passwd);
        $this->assertTrue(isset($sendmail->passwd));
        // Old code may set the password through the original's property.
        $marker = TestBed::marker('php-legacy-passwd');
        $sendmail->passwd = $bed->password();
        $this->assertTrue($sendmail->send($bed->address('to'), $bed->address('from'), $marker, 'x'), $sendmail->lasterror);
        $bed->waitForMessage($marker);
    }

    public function testOnlyTheIncludeLineChanges(): void
    {
        // The seed's send.php, the include line pointing at the new class.
        $source = file_get_contents(dirname(__DIR__, 3) . '/examples/php/send.php');
        $this->assertLessThan(15, substr_count($source, "\n") + 1, 'under 15 lines');
        $this->assertStringContainsString('new send_mail(', $source);
        $this->assertStringContainsString('->send(', $source);
    }

    /**
     * Each doc comment sits on the method it describes (one described
     * deliver() while sitting above checkOneLine()).
     */
    public function testDocCommentsDescribeTheirOwnMethods(): void
    {
        $deliver = new \ReflectionMethod(\send_mail::class, 'deliver');
        $this->assertStringContainsString('Sends the message', (string) $deliver->getDocComment());
        $check = new \ReflectionMethod(\send_mail::class, 'checkOneLine');
        $doc = (string) $check->getDocComment();
        $this->assertStringContainsString('Refuses CR, LF and NUL', $doc);
        $this->assertStringNotContainsString('Sends the message', $doc);
    }
}

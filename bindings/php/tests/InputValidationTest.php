<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Bad input gives an InvalidInputException, never a TypeError, a warning
 * (the bootstrap turns warnings into failures) or a crash: NUL bytes,
 * CR/LF in every one-line field, wrong types, huge values, bad UTF-8.
 * No server is needed.
 */
final class InputValidationTest extends SmtpTestCase
{
    /** Message setters that take one line of text or an address list. */
    private const ONE_LINE_SETTERS = ['from', 'sender', 'to', 'cc', 'bcc', 'replyTo', 'subject', 'messageId',
        'inReplyTo', 'references', 'envelopeFrom', 'envelopeTo'];

    /** @return iterable<string, array{mixed}> */
    public static function wrongTypes(): iterable
    {
        yield 'array' => [['x' => ['nested']]];
        yield 'object' => [new \stdClass()];
        yield 'bool' => [true];
        yield 'closure' => [static fn () => 1];
        yield 'resource-like' => [new \ArrayObject([1])];
    }

    /** @return iterable<string, array{string}> */
    public static function badText(): iterable
    {
        yield 'NUL' => ["a\0b@example.test"];
        yield 'CR' => ["a@example.test\rX-Injected: 1"];
        yield 'LF' => ["a@example.test\nX-Injected: 1"];
        yield 'CRLF' => ["a@example.test\r\nBcc: victim@example.org"];
        yield 'invalid UTF-8' => ["caf\xe9@example.test"];
    }

    /** @dataProvider badText */
    public function testEveryOneLineSetterRefusesBadText(string $value): void
    {
        $message = new Message();
        foreach (self::ONE_LINE_SETTERS as $setter) {
            try {
                $message->$setter($value);
                $this->fail("$setter accepted " . json_encode($value, JSON_INVALID_UTF8_SUBSTITUTE));
            } catch (InvalidInputException $e) {
                $this->assertStringNotContainsString("\0", $e->getMessage());
            }
        }
        foreach ([['header', ['X-Test', $value]], ['header', [$value, 'v']], ['attachData', ['x', $value]],
            ['attachData', ['x', 'a.txt', $value]], ['embedData', ['x', $value]], ['attachFile', [$value]],
            ['attachFile', [__FILE__, $value]], ['embedFile', [__FILE__, $value]]] as [$method, $args]) {
            try {
                $message->$method(...$args);
                $this->fail("$method accepted a bad value");
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
    }

    /** @dataProvider wrongTypes */
    public function testEverySetterRefusesWrongTypes(mixed $value): void
    {
        $message = new Message();
        foreach ([...self::ONE_LINE_SETTERS, 'text', 'html'] as $setter) {
            try {
                $message->$setter($value);
                $this->fail("$setter accepted " . get_debug_type($value));
            } catch (InvalidInputException $e) {
                $this->assertStringContainsString('must be', $e->getMessage());
            }
        }
        foreach (['attachData' => [$value, 'a.bin'], 'header' => ['X-A', $value], 'attachFile' => [$value]] as $m => $args) {
            try {
                $message->$m(...$args);
                $this->fail("$m accepted " . get_debug_type($value));
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
    }

    public function testMultilineBodiesKeepLineBreaksButRefuseNul(): void
    {
        $message = new Message();
        $message->text("line 1\r\nline 2\nline 3\r");
        $message->html("<p>\n</p>");
        $this->expectException(InvalidInputException::class);
        $message->text("before\0after");
    }

    public function testBinaryAttachmentsMayHoldNulBytes(): void
    {
        $message = new Message();
        $message->attachData("\0\1\2\xff binary", 'data.bin', 'application/octet-stream');
        $message->embedData("\x89PNG\r\n\x1a\n\0", 'logo', 'logo.png');
        $this->addToAssertionCount(1);
    }

    /** @return iterable<string, array{array<string, mixed>}> */
    public static function badMailerOptions(): iterable
    {
        yield 'port too big' => [['port' => 70000]];
        yield 'port huge' => [['port' => PHP_INT_MAX]];
        yield 'port negative' => [['port' => -1]];
        yield 'port float' => [['port' => 25.5]];
        yield 'port array' => [['port' => [25]]];
        yield 'host NUL' => [['host' => "mail\0.example.org"]];
        yield 'host list with an array in it' => [['host' => ['a.example', ['b.example']]]];
        yield 'empty host list' => [['host' => []]];
        yield 'host empty' => [['host' => '   ']];
        yield 'security unknown' => [['security' => 'sometimes']];
        yield 'security number' => [['security' => 42]];
        yield 'security object' => [['security' => new \stdClass()]];
        yield 'timeout huge' => [['timeout' => 1e12]];
        yield 'timeout negative' => [['timeout' => -1]];
        yield 'timeout zero' => [['timeout' => 0]];
        yield 'timeout NaN' => [['timeout' => NAN]];
        yield 'timeout INF' => [['timeout' => INF]];
        yield 'timeout string' => [['timeout' => 'soon']];
        yield 'connect timeout huge' => [['connectTimeout' => PHP_INT_MAX]];
        yield 'total timeout array' => [['totalTimeout' => [1]]];
        yield 'user NUL' => [['user' => "u\0", 'password' => 'p']];
        yield 'password NUL' => [['user' => 'u', 'password' => "p\0assword"]];
        yield 'password array' => [['user' => 'u', 'password' => ['p']]];
        yield 'password without user' => [['password' => 'p']];
        yield 'user without password' => [['user' => 'u']];
        yield 'token and password' => [['user' => 'u', 'password' => 'p', 'token' => 't']];
        yield 'token without user' => [['token' => 't']];
        yield 'ca file missing' => [['caFile' => '/nonexistent/ca.pem']];
        yield 'ca file NUL' => [['caFile' => "/etc/ssl\0/ca.pem"]];
        yield 'client name with space' => [['clientName' => 'bad name']];
        yield 'client name CRLF' => [['clientName' => "x\r\nQUIT"]];
        yield 'mechanism unknown' => [['mechanism' => 'MAGIC']];
        yield 'recipient policy' => [['recipientPolicy' => 'all']];
        yield 'transcript not callable' => [['transcript' => 'no_such_function_here']];
        yield 'flag string' => [['insecurePlaintextAuth' => 'yes']];
        yield 'url and host' => [['url' => 'smtp://localhost', 'host' => 'localhost']];
        yield 'bad url' => [['url' => 'http://localhost']];
        yield 'url array' => [['url' => ['smtp://x']]];
        yield 'huge host' => [['host' => str_repeat('a', 5_000_000)]];
    }

    /**
     * @dataProvider badMailerOptions
     * @param array<string, mixed> $options
     */
    public function testMailerRefusesBadOptions(array $options): void
    {
        try {
            $mailer = new Mailer(...$options);
            // Some values are only checked when connecting (e.g. the EHLO name).
            $mailer->connect();
            $this->fail('accepted: ' . implode(', ', array_keys($options)));
        } catch (InvalidInputException $e) {
            $this->assertStringNotContainsString('p\0assword', $e->getMessage());
        }
    }

    public function testFromUrlRefusesUnknownOptionsAndHidesThePassword(): void
    {
        try {
            Mailer::fromUrl('smtp://u:s3cret-url-pass@localhost', colour: 'blue');
            $this->fail('accepted an unknown option');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('colour', $e->getMessage());
        }
        try {
            Mailer::fromUrl('smtp://u:s3cret-url-pass@localhost:notaport');
            $this->fail('accepted a bad port');
        } catch (InvalidInputException $e) {
            $this->assertStringNotContainsString('s3cret-url-pass', $e->getMessage() . $e->getTraceAsString());
        }
        $this->expectException(InvalidInputException::class);
        Mailer::fromUrl(null);
    }

    public function testSendTakesOnlyMessagesAndSendRawChecksItsEnvelope(): void
    {
        $mailer = new Mailer(host: '127.0.0.1', port: 1, security: 'none');
        foreach (['a string', 42, null, new \stdClass(), []] as $notAMessage) {
            try {
                $mailer->send($notAMessage);
                $this->fail('send() accepted ' . get_debug_type($notAMessage));
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
        foreach ([[['array'], null, null], ['data', 'from@example.test', null], ['data', null, 'to@example.test'],
            ['data', "f\0@example.test", 'to@example.test'], ['data', 'from@example.test', "t\r\n@x"],
            ['data', 'from@example.test', []], ['data', new \stdClass(), 'to@example.test']] as $args) {
            try {
                $mailer->sendRaw(...$args);
                $this->fail('sendRaw() accepted bad arguments');
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
    }

    public function testAddressListsAsArrays(): void
    {
        $message = new Message();
        $message->to(['a@example.test', 'B <b@example.test>']);
        $message->cc(['c@example.test' => 'Doe, "Jane" \\ Co']);
        foreach ([[], [[]], ['a@example.test' => ['x']], ['' => 'Name'], [null]] as $bad) {
            try {
                $message->bcc($bad);
                $this->fail('accepted ' . json_encode($bad));
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
    }

    public function testHugeValuesAreHandled(): void
    {
        $message = new Message();
        $big = str_repeat("line of text\n", 400_000); // about 5 MB
        $message->text($big);
        $message->attachData(random_bytes(1 << 20), 'random.bin');
        try {
            $message->subject(str_repeat('x', 2_000_000));
            $this->addToAssertionCount(1);
        } catch (InvalidInputException) {
            $this->addToAssertionCount(1);
        }
        try {
            $message->header('X-' . str_repeat('a', 100_000), 'v');
            $this->addToAssertionCount(1);
        } catch (InvalidInputException) {
            $this->addToAssertionCount(1);
        }
    }

    public function testMessagesConstructorChecksItsArguments(): void
    {
        foreach ([['headers' => 'X-A: 1'], ['headers' => ['Date' => 'now']], ['attachments' => ['/nonexistent/file']],
            ['to' => 12.5], ['text' => ['a']]] as $args) {
            try {
                new Message(...$args);
                $this->fail('accepted ' . json_encode($args));
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
    }

    public function testHandlesCannotBeClonedOrSerialized(): void
    {
        $message = new Message(subject: 'kept');
        try {
            $copy = clone $message;
            $this->fail('cloned');
        } catch (\Smtp\Exception\SmtpException) {
            $this->addToAssertionCount(1);
        }
        // The original still works after the refused clone.
        $message->subject('still usable');
        $this->expectException(\Smtp\Exception\SmtpException::class);
        serialize($message);
    }

    public function testUnserializingAForgedMailerFails(): void
    {
        $this->expectException(\Smtp\Exception\SmtpException::class);
        unserialize('O:11:"Smtp\\Mailer":1:{s:6:"handle";i:1234;}');
    }
}

